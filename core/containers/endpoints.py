"""A container's endpoint settings, one per network, and dockerd's rules for adding one.

As Docker's ``NetworkSettings.Networks``: a container may have any number of endpoints,
none included (a container started without one gets a namespace with only ``lo``). Each
record keeps what the client asked for (``aliases``, ``ip``, ``ip6``, ``links``, ``mac``,
``driver_opts``) and ``network_id`` once the endpoint was first joined; while the container
runs it also holds what the driver reported (``endpoint_id``, ``interface``,
``ipv4_address``, ``gateway``, ``ipv6_address``, ``ipv6_gateway``, ``mac_address``, ``dns`` (the driver's resolver, if any),
``external_dns`` (False: no server outside the container is reachable), ``netns``).

The rules are dockerd 20.10's (``updateNetworkConfig`` and ``updateNetworkSettings``), with
its messages, so clients such as docker-compose see the answers they were written against.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from berth.containers import netmode
from berth.errors import InvalidArgument

#: what only a joined endpoint has; cleared when the container stops
RUNTIME_KEYS = ("endpoint_id", "interface", "ipv4_address", "gateway", "ipv6_address", "ipv6_gateway", "mac_address",
                "dns", "external_dns", "netns")

ERR_ALIAS = "network-scoped alias is supported only for containers in user defined networks"
ERR_IP = "user specified IP address is supported on user defined networks only"
ERR_IP_SUBNET = "user specified IP address is supported only when connecting to networks with user configured subnets"
ERR_HOST = "container cannot be disconnected from host network or connected to host network"
ERR_SHARED = "container sharing network namespace with another container or host cannot be connected to any other network"
ERR_NONE = "container cannot be connected to multiple networks with one of the networks in private (none) mode"


def new_record(endpoint_cfg: dict[str, Any] | None) -> dict[str, Any]:
    """The stored form of an API ``EndpointSettings`` (what the client asked for)."""
    cfg = endpoint_cfg or {}
    if not isinstance(cfg, dict):
        raise InvalidArgument("invalid endpoint settings: EndpointConfig must be a JSON object")
    ipam = cfg.get("IPAMConfig")
    ipam = {} if ipam is None else ipam
    if not isinstance(ipam, dict):
        raise InvalidArgument("invalid endpoint settings: IPAMConfig must be a JSON object")
    ip = _requested_address(ipam, "IPv4Address", ipaddress.IPv4Address)
    record: dict[str, Any] = {"network_id": "", "aliases": _strings(cfg, "Aliases"), "ip": ip,
                              "links": _strings(cfg, "Links")}
    ip6 = _requested_address(ipam, "IPv6Address", ipaddress.IPv6Address)
    if ip6:
        record["ip6"] = ip6
    link_local = _link_local_ips(ipam)
    if link_local:
        record["link_local_ips"] = link_local
    if cfg.get("MacAddress"):
        record["mac"] = str(cfg["MacAddress"])
    if cfg.get("DriverOpts"):
        record["driver_opts"] = dict(cfg["DriverOpts"])
    return record


def _requested_address(ipam: dict[str, Any], key: str, kind) -> str:
    """``IPAMConfig``'s IPv4Address or IPv6Address as given ("" when absent), refused with dockerd's
    message when it is not an address of that family."""
    text = ipam.get(key) or ""
    if text:
        try:
            kind(text)
        except ValueError:
            raise InvalidArgument(f"invalid IPv{6 if kind is ipaddress.IPv6Address else 4} address: {text}") from None
    return text


def _link_local_ips(ipam: dict[str, Any]) -> list[str]:
    """``--link-local-ip`` addresses: IPv4 ones only (IPv6 link-local addresses are not added)."""
    out = _strings(ipam, "LinkLocalIPs")
    for text in out:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidArgument(f"invalid link-local IP address: {text}") from None
        if address.version == 6:
            raise InvalidArgument(f"IPv6 link-local addresses are not supported: berth adds IPv4 ones only "
                                  f"(link-local IP {text})")
    return out


def _strings(cfg: dict[str, Any], key: str) -> list[str]:
    value = cfg.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid endpoint settings: {key} must be a list of strings")
    return list(value)


def check_settings(network, record: dict[str, Any]) -> None:
    """Aliases and addresses are for user-defined networks; an address needs the network's own subnet."""
    if not netmode.is_user_defined(network.name):
        if record.get("ip") or record.get("ip6"):
            raise InvalidArgument(ERR_IP)
        if record.get("aliases"):
            raise InvalidArgument(ERR_ALIAS)
    if (record.get("ip") and not network.subnet) or (record.get("ip6") and not network.subnet6):
        raise InvalidArgument(ERR_IP_SUBNET)


def add_implicit_aliases(record: dict[str, Any], short_id: str, hostname: str) -> None:
    """On a user-defined network dockerd 20.10 adds the short id and the hostname to the aliases
    (docker-compose 1.x checks for the short id to know that an endpoint is configured)."""
    for alias in (short_id, hostname):
        if alias and alias not in record["aliases"]:
            record["aliases"].append(alias)


def check_connect(c, network, find_network) -> bool:
    """dockerd's rules for adding ``network`` to ``c``'s endpoints. True when it is already there.

    ``find_network(name, record)`` resolves an existing endpoint's network (None when gone).
    """
    mode = c.host_config.get("NetworkMode") or ""
    if mode != "host" and network.driver == "host":
        raise InvalidArgument(ERR_HOST)
    for name, record in c.endpoints.items():
        other = find_network(name, record)
        if other is None:
            continue
        if other.name == network.name:
            return True
        if "host" in (other.driver, network.driver):
            raise InvalidArgument(ERR_SHARED)
        if "none" in (other.name, network.name):
            raise InvalidArgument(ERR_NONE)
    return False


def clear_runtime(record: dict[str, Any]) -> None:
    """Forget what the driver reported: the container no longer runs (the network id stays, as in dockerd)."""
    for key in RUNTIME_KEYS:
        record.pop(key, None)


def adopt_legacy(record: dict[str, Any], container_id: str) -> None:
    """A running container's record written by a berth before endpoint ids: its joined endpoints
    were the ones with a driver report, and their id was the container's."""
    if not record.get("endpoint_id") and (record.get("netns") or record.get("ipv4_address")):
        record["endpoint_id"] = container_id
    record.setdefault("links", [])


def is_joined(record: dict[str, Any]) -> bool:
    return bool(record.get("endpoint_id"))
