"""A container's network mode (``HostConfig.NetworkMode``): what it names and what it forbids.

Docker's modes: ``default`` (the daemon's default network, ``bridge``), ``bridge``, ``host``,
``none``, ``container:<name|id>`` (share another container's network namespace) and the name
or id of a user-defined network. The mode is kept as the client gave it (``""`` becomes
``default``); only ``container:X`` is rewritten to X's full id when X exists, as dockerd does.
The checks here are dockerd's ``validateNetMode`` at create, with its messages.
"""

from __future__ import annotations

from typing import Any, Callable

from berth.errors import InvalidArgument, NotFound

PREDEFINED = ("bridge", "host", "none")
DEFAULT = "default"


def container_ref(mode: str) -> str | None:
    """``container:X`` -> X ("" when X is missing); None for every other mode."""
    kind, sep, ref = (mode or "").partition(":")
    return ref if kind == "container" and sep else None


def is_user_defined(network_name: str) -> bool:
    """Docker's ``IsUserDefined``: any name but the predefined networks, ``default`` and ``container:X``."""
    return network_name not in (*PREDEFINED, DEFAULT) and container_ref(network_name) is None


def network_name(mode: str, default_network: str) -> str | None:
    """The network a mode attaches the container to at create; None for ``container:X``."""
    if container_ref(mode) is not None:
        return None
    return default_network if mode in ("", DEFAULT) else mode


def check(config: dict[str, Any], host_config: dict[str, Any]) -> None:
    """dockerd's refusals of options the mode makes meaningless (400, dockerd's messages).

    ``config`` is the create request's Config as sent (not merged with the image's), as dockerd
    validates it before it looks at the image.
    """
    mode = host_config.get("NetworkMode") or DEFAULT
    ref = container_ref(mode)
    if ref == "":
        raise InvalidArgument("Invalid network mode: invalid container format container:<name|id>")
    if ref is not None:
        _check_shared_namespace(config, host_config)
    if mode == "host" and config.get("MacAddress"):
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if mode == "host" and host_config.get("Links"):
        raise InvalidArgument("conflicting options: host type networking can't be used with links. "
                              "This would result in undefined behavior")


def _check_shared_namespace(config: dict[str, Any], hc: dict[str, Any]) -> None:
    """What a container that joins another's namespace may not set (dockerd's order)."""
    refusals = (
        (config.get("Hostname"), "conflicting options: hostname and the network mode"),
        (hc.get("Links"), "conflicting options: container type network can't be used with links. "
                          "This would result in undefined behavior"),
        (hc.get("Dns"), "conflicting options: dns and the network mode"),
        (hc.get("ExtraHosts"), "conflicting options: custom host-to-IP mapping and the network mode"),
        (config.get("MacAddress"), "conflicting options: mac-address and the network mode"),
        (hc.get("PortBindings") or hc.get("PublishAllPorts"),
         "conflicting options: port publishing and the container type network mode"),
        (config.get("ExposedPorts"), "conflicting options: port exposing and the container type network mode"),
    )
    for given, message in refusals:
        if given:
            raise InvalidArgument(message)


def resolve_container_mode(host_config: dict[str, Any], find_container: Callable[[str], str]) -> None:
    """``container:X`` names X by full id when X exists; a missing X is dockerd's 404 at start, not at create."""
    ref = container_ref(host_config.get("NetworkMode") or "")
    if ref:
        try:
            host_config["NetworkMode"] = "container:" + find_container(ref)
        except NotFound:
            pass
