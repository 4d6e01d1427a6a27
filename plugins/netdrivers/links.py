"""Netlink operations of the bridge driver: bridges, veth pairs and a container's interface set-up.

Every function takes an open pyroute2 ``IPRoute`` whose socket lives in the namespace
to act on (see :mod:`berth.plugins.netdrivers.netns`), so the caller decides where
things happen and no function here changes namespace itself.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, ip_address

IFF_UP = 0x1
EEXIST = 17
IFA_F_NODAD = 0x02  # an IPv6 address usable at once: no duplicate address detection (dockerd's flag too)
AF_INET6 = 10


def index_of(ipr, ifname: str) -> int | None:
    """The interface index of ``ifname`` in the socket's namespace, or None."""
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


def ensure_bridge(ipr, name: str, gateway: IPv4Address, subnet: IPv4Network, mtu: int) -> bool:
    """Make sure bridge ``name`` exists, is up, has MTU ``mtu`` and the gateway address.

    Returns True when the bridge was created by this call (so a failed set-up can undo it).
    An existing interface of that name that is not a bridge is an error.
    """
    created = False
    idx = index_of(ipr, name)
    if idx is None:
        ipr.link("add", ifname=name, kind="bridge")
        created = True
        idx = index_of(ipr, name)
    else:
        link = ipr.get_links(idx)[0]
        info = link.get("IFLA_LINKINFO")
        kind = info.get("IFLA_INFO_KIND") if info else None
        if kind != "bridge":
            raise ValueError(f"interface {name} exists and is not a bridge (kind {kind!r})")
    ipr.link("set", index=idx, mtu=mtu)
    have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=2)}
    if (str(gateway), subnet.prefixlen) not in have:
        ipr.addr("add", index=idx, address=str(gateway), prefixlen=subnet.prefixlen)
    ipr.link("set", index=idx, state="up")
    return created


def ensure_address6(ipr, ifname: str, address: IPv6Address, prefixlen: int) -> None:
    """``address``/``prefixlen`` on ``ifname`` unless it is there (a bridge's IPv6 gateway)."""
    idx = index_of(ipr, ifname)
    have = {(a.get("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=AF_INET6)}
    if (str(address), prefixlen) not in have:
        add_address(ipr, idx, address, prefixlen)


def add_address(ipr, idx: int, address: IPv4Address | IPv6Address, prefixlen: int) -> None:
    """``address``/``prefixlen`` on interface ``idx``; an IPv6 one without duplicate address detection,
    so that it is usable at once rather than "tentative" for a second or two."""
    if address.version == 6:
        ipr.addr("add", index=idx, address=str(address), prefixlen=prefixlen, family=AF_INET6, flags=IFA_F_NODAD)
    else:
        ipr.addr("add", index=idx, address=str(address), prefixlen=prefixlen)


def delete_link(ipr, ifname: str) -> bool:
    """Delete ``ifname`` if it exists (a veth takes its peer with it). Returns whether it existed."""
    idx = index_of(ipr, ifname)
    if idx is None:
        return False
    try:
        ipr.link("del", index=idx)
    except Exception as exc:  # it may vanish concurrently (its container's namespace went away)
        if getattr(exc, "code", None) != 19:  # ENODEV
            raise
    return True


def names_and_flags(ipr) -> dict[str, tuple[int, int]]:
    """Every interface of the socket's namespace: name -> (index, flags). One dump."""
    return {link.get("IFLA_IFNAME"): (link["index"], link["flags"]) for link in ipr.get_links()}


def free_ifname(taken, prefix: str = "eth") -> str:
    """The first ``ethN`` name not in ``taken`` (names, e.g. from :func:`names_and_flags`)."""
    n = 0
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def create_veth(ipr, host_name: str, peer_name: str, peer_netns_fd: int, bridge_index: int, mtu: int,
                peer_mac: str) -> None:
    """Create a veth pair: ``host_name`` on the bridge (up, hairpin on), ``peer_name`` born in the peer
    namespace with MAC ``peer_mac``.

    One RTM_NEWLINK makes both ends, puts the host end on the bridge and brings it up (the
    kernel applies IFLA_MASTER and the flags of a new link); only hairpin needs a second
    request, which the bridge takes for a port by index. Creating the peer directly inside
    the container's namespace means its name can never collide with an interface of the host.
    """
    ipr.link("add", ifname=host_name, kind="veth", mtu=mtu, master=bridge_index, state="up",
             peer={"ifname": peer_name, "net_ns_fd": peer_netns_fd, "mtu": mtu, "address": peer_mac})
    idx = index_of(ipr, host_name)
    # Hairpin lets a container reach itself through the host (its own published port).
    ipr.brport("set", index=idx, mode=1)


def configure_container_side(ipr, ifname: str, address: IPv4Address, prefixlen: int,
                             gateway: IPv4Address | None, lo: tuple[int, int] | None,
                             ipv6: tuple[IPv6Address, int, IPv6Address | None] | None = None) -> None:
    """In the container's namespace: ``lo`` up (``lo``: its index and flags, None if absent);
    ``ifname`` with its address, up; a default route via ``gateway``. ``ipv6``: (address, prefix
    length, gateway or None) on a network with IPv6, added and routed the same way.

    The default route is added only when the namespace has none yet (the first network a
    container joins provides it, as in Docker): the kernel refuses a second default route
    of the same metric with EEXIST, which is that case.
    """
    if lo is not None and not lo[1] & IFF_UP:
        ipr.link("set", index=lo[0], state="up")
    idx = index_of(ipr, ifname)
    if idx is None:
        raise ValueError(f"interface {ifname} did not appear in the container's namespace")
    ipr.addr("add", index=idx, address=str(address), prefixlen=prefixlen)
    if ipv6 is not None:
        add_address(ipr, idx, ipv6[0], ipv6[1])
    ipr.link("set", index=idx, state="up")
    for via in (gateway, ipv6[2] if ipv6 else None):
        if via is not None:
            _add_default_route(ipr, idx, via)


def _add_default_route(ipr, idx: int, gateway: IPv4Address | IPv6Address) -> None:
    """A default route via ``gateway``, unless the namespace has one of that family (EEXIST)."""
    dst, family = ("::/0", AF_INET6) if gateway.version == 6 else ("0.0.0.0/0", 2)
    try:
        ipr.route("add", dst=dst, gateway=str(gateway), oif=idx, family=family)
    except Exception as exc:
        if getattr(exc, "code", None) != EEXIST:
            raise


def add_addresses(ipr, ifname: str, addresses: list[tuple[IPv4Address, int]]) -> None:
    """More (address, prefix length) pairs on ``ifname`` (``--link-local-ip``)."""
    idx = index_of(ipr, ifname) if addresses else None
    for address, prefixlen in addresses:
        add_address(ipr, idx, address, prefixlen)


def ensure_default_route(ipr, ifname: str, gateway: IPv4Address | IPv6Address | str) -> None:
    """A default route via ``gateway`` on ``ifname``, unless the namespace already has one of its family."""
    gateway = ip_address(str(gateway))
    family = AF_INET6 if gateway.version == 6 else 2
    defaults = [r for r in ipr.get_routes(family=family) if r["dst_len"] == 0 and r.get("RTA_GATEWAY")]
    idx = index_of(ipr, ifname)
    if not defaults and idx is not None:
        _add_default_route(ipr, idx, gateway)


def routes_in_use(ipr) -> list[IPv4Network]:
    """The IPv4 networks of every non-default route in the socket's namespace (to avoid overlapping subnets)."""
    nets = []
    for r in ipr.get_routes(family=2):
        dst = r.get("RTA_DST")
        if dst and r["dst_len"] > 0 and r.get("table", r.get("RTA_TABLE")) in (254, None):
            nets.append(IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
    return nets


def mac_for(address: IPv4Address) -> str:
    """Docker's MAC derived from the IPv4 address: 02:42 followed by the address's four bytes."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)
