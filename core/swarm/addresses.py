"""Listen, advertise and data-path addresses of ``swarm init``/``join``, resolved and refused as dockerd does.

An address may name an interface (its one IPv4, else its one IPv6 address) or be an
IP. Without an advertise address the node's own address is looked for: the one
global unicast address of the up *devices* (NICs), or, when there is no device with
one (a node in a container, or in a namespace such as berthd's test namespaces), the
one address of the up interfaces outside the subnets of the engine's own networks.
A node with only loopback therefore answers "could not find the system's IP address",
exactly as dockerd in the same namespace.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

from berth.errors import InvalidArgument
from berth.swarm.hostaddrs import Interface, is_global_unicast

DEFAULT_PORT = "2377"
NO_SUCH_INTERFACE = "no such interface"
NO_IP = "could not find the system's IP address"
MUST_SPECIFY_LISTEN = ("must specify a listening address because the address to advertise is not recognized as a "
                       "system address, and a system's IP address to use could not be uniquely identified")
BAD_IDENTIFIER = "must specify a valid IP address or interface name"
BAD_LISTEN = "listen address must be an IP address or network interface (with optional port number)"
BAD_ADVERTISE = "advertise address must be a non-zero IP address or network interface (with optional port number)"
BAD_DATA_PATH = "data path address must be a non-zero IP address or network interface (without a port number)"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class _NotAnInterface(Exception):
    pass


def sanitize(addr: str) -> str:
    """dockerd's ``validateAddr``: "" is refused; anything parseable as TCP gets the default host and port."""
    if addr == "":
        raise ValueError("invalid empty address")
    rest = addr[len("tcp://"):] if addr.startswith("tcp://") else addr
    if "://" in rest or rest == "":
        return addr
    host, port = split_host_port(rest)
    if host is None:
        host, port = split_host_port(join_host_port(rest, DEFAULT_PORT))
    if host is None:
        return addr
    return join_host_port(host or "0.0.0.0", port or DEFAULT_PORT)


def split_host_port(text: str) -> tuple[str | None, str]:
    """Go's ``net.SplitHostPort``: (None, "") when ``text`` is not host:port."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not text[end + 1:].startswith(":") or ":" in text[end + 2:]:
            return None, ""
        return text[1:end], text[end + 2:]
    host, sep, port = text.rpartition(":")
    if not sep or ":" in host:
        return None, ""
    return host, port


def join_host_port(host: str, port: str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _interface_address(name: str, found: list[Interface]) -> Address:
    """An interface's address: its one IPv4 address, else its one IPv6 address."""
    match = next((i for i in found if i.name == name), None)
    if match is None:
        raise _NotAnInterface()
    v4 = [a for a in match.addresses if a.version == 4]
    v6 = [a for a in match.addresses if a.version == 6]
    for family in (v4, v6):
        if len(family) > 1:
            raise InvalidArgument(f"interface {name} has more than one IPv{family[0].version} address "
                                  f"({family[0]} and {family[1]})")
    if not v4 and not v6:
        raise InvalidArgument(f"interface {name} has no usable IPv4 or IPv6 address")
    return (v4 or v6)[0]


def resolve_input(text: str, unspecified_ok: bool, found: list[Interface]) -> Address:
    """An interface name or an IP address; ``ValueError`` (bad identifier) otherwise."""
    try:
        return _interface_address(text, found)
    except _NotAnInterface:
        pass
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(BAD_IDENTIFIER) from None
    if address.is_unspecified and not unspecified_ok:
        raise ValueError(BAD_IDENTIFIER)
    return address


def resolve_listen(addr: str, found: list[Interface]) -> tuple[str, str]:
    host, port = split_host_port(addr)
    if host is None:
        raise InvalidArgument(f"could not parse listen address {addr}")
    try:
        return str(resolve_input(host, True, found)), port
    except ValueError:
        raise InvalidArgument(BAD_LISTEN) from None


def resolve_advertise(addr: str, listen_port: str, found: list[Interface], managed: Iterable[str]) -> tuple[str, str]:
    if not addr:
        return str(system_address(found, managed)), listen_port
    host, port = split_host_port(addr)
    if host is None:
        host, port = addr, listen_port
    try:
        return str(resolve_input(host, False, found)), port
    except ValueError:
        raise InvalidArgument(BAD_ADVERTISE) from None


def resolve_data_path(addr: str, found: list[Interface]) -> str:
    if not addr:
        return ""
    try:
        return str(resolve_input(addr, False, found))
    except ValueError:
        raise InvalidArgument(BAD_DATA_PATH) from None


def local_address(listen_host: str, advertise_host: str, found: list[Interface], managed: Iterable[str]) -> str:
    """The node's own address: the listen host, or (listening everywhere) the advertise host when it is this
    system's, or the system's address."""
    if not ipaddress.ip_address(listen_host).is_unspecified:
        return listen_host
    advertised = ipaddress.ip_address(advertise_host)
    if any(a == advertised for i in found for a in i.addresses):
        return advertise_host
    try:
        return str(system_address(found, managed))
    except InvalidArgument:
        raise InvalidArgument(MUST_SPECIFY_LISTEN) from None


def system_address(found: list[Interface], managed: Iterable[str]) -> Address:
    """The node's one address: on the up devices, else outside the engine's own subnets."""
    devices = [i for i in found if i.device and i.up]
    if any(is_global_unicast(a) for i in devices for a in i.addresses):
        return _only_address(devices, [])
    candidates = [i for i in found if i.up and not i.loopback]
    return _only_address(candidates, [ipaddress.ip_network(s, strict=False) for s in managed])


def _only_address(candidates: list[Interface], managed: list) -> Address:
    chosen: tuple[str, Address] | None = None
    for interface in candidates:
        usable = [a for a in interface.addresses if is_global_unicast(a)]
        if any(a in net for a in usable for net in managed if a.version == net.version):
            continue  # an interface on one of the engine's own networks
        picked = None
        for family in (4, 6):
            of_family = [a for a in usable if a.version == family]
            if len(of_family) > 1:
                raise InvalidArgument(_multiple(interface.name, interface.name, of_family[0], of_family[1]))
            picked = picked or (of_family[0] if of_family else None)
        if picked is not None:
            if chosen is not None:
                raise InvalidArgument(_multiple(chosen[0], interface.name, chosen[1], picked))
            chosen = (interface.name, picked)
    if chosen is None:
        raise InvalidArgument(NO_IP)
    return chosen[1]


def _multiple(name_a: str, name_b: str, addr_a: Address, addr_b: Address) -> str:
    if name_a == name_b:
        return (f"could not choose an IP address to advertise since this system has multiple addresses on "
                f"interface {name_a} ({addr_a} and {addr_b})")
    return (f"could not choose an IP address to advertise since this system has multiple addresses on different "
            f"interfaces ({addr_a} on {name_a} and {addr_b} on {name_b})")


def check_default_addr_pool(pools: list[str] | None, size: int) -> list[str] | None:
    """dockerd's checks of ``DefaultAddrPool``/``SubnetSize`` (its untyped 500s: a 400 here, bad input). No pool
    (or an empty list, as the docker CLI sends) is swarmkit's default."""
    if not pools:
        return None
    size = size or 24
    if size > 29:
        raise InvalidArgument(f"subnet size is out of range: {size}")
    cleaned = []
    for pool in pools:
        pool = pool.strip()
        try:
            network = ipaddress.ip_network(pool, strict=False)
        except ValueError:
            raise InvalidArgument(f"invalid base pool {pool}: invalid CIDR address: {pool}") from None
        if size < network.prefixlen:
            raise InvalidArgument(f'invalid CIDR: "{pool}". Subnet size is too small for pool: {size}')
        cleaned.append(pool)
    return cleaned


def check_data_path_port(port: int) -> int:
    if port == 0:
        return 4789
    if not 1024 <= port <= 49151:
        raise InvalidArgument(f"Datapath port number is not in valid range (1024-49151) : {port}")
    return port
