"""``NetworkingConfig.EndpointsConfig`` of a ``run``/``create`` request, as the docker CLI builds it.

Without ``--network`` the request carries an endpoint for ``default`` that holds
``--network-alias``/``--ip``/``--ip6``/``--mac-address``/``--link-local-ip``
(aliases are refused there: they need a user-defined network). With
``--network`` (plain ``NAME`` or ``name=NAME,alias=...``), those flags go to the
first network; a single network with nothing set for it sends no endpoint (the
daemon makes one); ``--link`` on a user-defined network is an endpoint link
(an alias), on the default bridge a legacy link (``HostConfig.Links`` only).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    from typing import Any

    from berth.cli.options import Namespace

from berth.cli.createbody import EMPTY_ENDPOINT as _EMPTY_ENDPOINT

_NOT_USER_DEFINED = ("default", "bridge", "host", "none")


def user_defined(name: str) -> bool:
    return name not in _NOT_USER_DEFINED and not name.startswith("container:")


def _apply_flags(attachment: dict[str, Any], opts: Namespace) -> None:
    """Put the per-endpoint flags on the first network's attachment (refusing a clash with its own settings)."""
    clashes = (("Aliases", opts.network_alias, "--network-alias and per-network alias"),
               ("Links", opts.link, "--link and per-network links"),
               ("IPv4Address", opts.ip, "--ip and per-network IPv4 address"),
               ("IPv6Address", opts.ip6, "--ip6 and per-network IPv6 address"),
               ("MacAddress", opts.mac_address, "--mac-address and per-network MAC address"),
               ("LinkLocalIPs", opts.link_local_ip, "--link-local-ip and per-network link-local IP addresses"))
    for key, flag_value, what in clashes:
        if attachment.get(key) and flag_value:
            raise ValueError(f"conflicting options: cannot specify both {what}")
    if opts.network_alias:
        attachment["Aliases"] = list(opts.network_alias)
    if user_defined(attachment["Target"]) and opts.link:
        attachment["Links"] = list(opts.link)
    for key, value in (("IPv4Address", opts.ip), ("IPv6Address", opts.ip6), ("MacAddress", opts.mac_address)):
        if value:
            attachment[key] = value
    if opts.link_local_ip:
        attachment["LinkLocalIPs"] = list(opts.link_local_ip)


def endpoint_settings(attachment: dict[str, Any]) -> dict[str, Any]:
    """One attachment -> ``EndpointSettings``."""
    from berth.cli.hostconfig import valid_mac

    target = attachment["Target"]
    if not target.strip():
        raise ValueError("no name set for network")
    if not user_defined(target):
        if attachment.get("Aliases"):
            raise ValueError("network-scoped aliases are only supported for user-defined networks")
        if attachment.get("Links"):
            raise ValueError("links are only supported for user-defined networks")
    endpoint = dict(_EMPTY_ENDPOINT, GwPriority=attachment.get("GwPriority") or 0)
    endpoint["Aliases"] = list(attachment.get("Aliases") or ()) or None
    endpoint["DriverOpts"] = attachment.get("DriverOpts") or None
    endpoint["Links"] = attachment.get("Links") or None
    ipam = {key: attachment[key] for key in ("IPv4Address", "IPv6Address", "LinkLocalIPs") if attachment.get(key)}
    if ipam:
        endpoint["IPAMConfig"] = ipam
    if attachment.get("MacAddress"):
        if not valid_mac(attachment["MacAddress"]):
            raise ValueError(f"{attachment['MacAddress']} is not a valid mac address")
        endpoint["MacAddress"] = attachment["MacAddress"]
    return endpoint


def build(opts: Namespace) -> dict[str, Any]:
    """The ``EndpointsConfig`` map."""
    networks = [dict(n) for n in opts.network]
    endpoints: dict[str, Any] = {}
    if not networks:
        default: dict[str, Any] = {"Target": "default"}
        _apply_flags(default, opts)
        endpoints["default"] = endpoint_settings(default)
    kinds = set()
    for index, attachment in enumerate(networks):
        kinds.add(user_defined(attachment["Target"]))
        if index == 0:
            _apply_flags(attachment, opts)
        endpoint = endpoint_settings(attachment)
        if attachment["Target"] in endpoints:
            raise ValueError(f'network "{attachment["Target"]}" is specified multiple times')
        if index == 0 and len(networks) == 1 and endpoint == _EMPTY_ENDPOINT:
            continue
        endpoints[attachment["Target"]] = endpoint
    if len(kinds) > 1:
        raise ValueError("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
    return endpoints
