"""Address management for bridge networks: choosing subnets and handing out addresses (IPv4 and IPv6).

Pure logic, no I/O: a :class:`Pool` is one network's subnet with its allocations and
serialises to a dict that the driver persists atomically with the network's state.
After libnetwork's default IPAM: the gateway is the first usable address of the
dynamic range, addresses are handed out sequentially *after* the last one given
(so a just-released address is not reused at once while peers may still cache its
MAC), and a requested address may lie anywhere in the subnet. A network has one IPv4
pool and, with IPv6 enabled, one IPv6 pool; the same :class:`Pool` serves both families
(an IPv6 subnet has no broadcast address to keep free).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from ipaddress import ip_address, ip_network
from typing import Iterable, Union

from berth.driverkit import Conflict, InvalidArgument

Address = Union[IPv4Address, IPv6Address]
Network = Union[IPv4Network, IPv6Network]
#: the smallest subnet (longest prefix) a bridge network takes, per IP version
MAX_PREFIX = {4: 30, 6: 126}

#: Docker's default pools for networks created without ``--subnet``: 172.17-31.0.0/16, then /20s of 192.168/16.
DEFAULT_ADDRESS_POOLS: list[dict] = [
    {"base": "172.17.0.0/16", "size": 16}, {"base": "172.18.0.0/16", "size": 16},
    {"base": "172.19.0.0/16", "size": 16}, {"base": "172.20.0.0/14", "size": 16},
    {"base": "172.24.0.0/14", "size": 16}, {"base": "172.28.0.0/14", "size": 16},
    {"base": "192.168.0.0/16", "size": 20},
]


def parse_network(text: str, what: str, version: int = 4) -> Network:
    """Parse a CIDR of IP ``version``, strictly: host bits must be zero (as ``docker network create --subnet``)."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what} {text!r}: {exc}") from exc
    if net.version != version:
        raise InvalidArgument(f"invalid {what} {text!r}: expected an IPv{version} network here")
    return net


def parse_address(text: str, what: str, version: int = 4) -> Address:
    """Parse an address of IP ``version`` (a ``/len`` suffix is tolerated and ignored)."""
    try:
        addr = ipaddress.ip_address(text.split("/", 1)[0])
    except ValueError as exc:
        raise InvalidArgument(f"invalid {what} {text!r}: {exc}") from exc
    if addr.version != version:
        raise InvalidArgument(f"invalid {what} {text!r}: expected an IPv{version} address here")
    return addr


def parse_bip(text: str) -> tuple[IPv4Network, IPv4Address]:
    """Split the daemon's ``bip`` ("172.17.0.1/16") into subnet and gateway."""
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError as exc:
        raise InvalidArgument(f"invalid bip {text!r}: {exc}; expected ADDRESS/PREFIX such as 172.17.0.1/16") from exc
    if iface.version != 4 or iface.ip == iface.network.network_address:
        raise InvalidArgument(f"invalid bip {text!r}: give the bridge's own IPv4 address with a prefix, e.g. 172.17.0.1/16")
    return iface.network, iface.ip  # type: ignore[return-value]


def candidate_subnets(pools: Iterable[dict]) -> Iterable[IPv4Network]:
    """Every subnet the address pools offer, in order (``{"base": CIDR, "size": prefixlen}``)."""
    for pool in pools:
        base = parse_network(str(pool["base"]), "default address pool base")
        size = int(pool.get("size", base.prefixlen))
        if size < base.prefixlen or size > 30:
            raise InvalidArgument(
                f"invalid default address pool {pool}: size {size} must be between {base.prefixlen} and 30"
            )
        yield from base.subnets(new_prefix=size)


def choose_subnet(pools: Iterable[dict], in_use: Iterable[IPv4Network]) -> IPv4Network:
    """The first pool subnet overlapping none of ``in_use`` (other networks, host routes)."""
    taken = list(in_use)
    for subnet in candidate_subnets(pools):
        if not any(subnet.overlaps(t) for t in taken):
            return subnet
    raise Conflict(
        "all predefined address pools have been fully subnetted: remove unused networks "
        "or pass --subnet, or add default-address-pools to the daemon configuration"
    )


@dataclass
class Pool:
    """One network's addresses of one IP version: subnet, gateway, optional dynamic range, and who holds what."""

    subnet: Network
    gateway: Address
    ip_range: Network | None = None
    allocated: dict[str, str] = field(default_factory=dict)  # address -> endpoint id
    last: str = ""  # the last address handed out dynamically

    @classmethod
    def create(cls, subnet: Network, gateway: Address | None = None, ip_range: Network | None = None) -> "Pool":
        """Validate the layout and pick the gateway when none is given."""
        smallest = MAX_PREFIX[subnet.version]
        if subnet.prefixlen > smallest:
            raise InvalidArgument(f"subnet {subnet} is too small: a bridge network needs at least a /{smallest}")
        for what, value in (("ip-range", ip_range), ("gateway", gateway)):
            if value is not None and value.version != subnet.version:
                raise InvalidArgument(f"{what} {value} is not of the IP version of subnet {subnet}")
        if ip_range is not None and not ip_range.subnet_of(subnet):
            raise InvalidArgument(f"ip-range {ip_range} is not inside subnet {subnet}")
        pool = cls(subnet=subnet, gateway=subnet.network_address, ip_range=ip_range)
        if gateway is None:
            gateway = next(pool._dynamic_candidates(), None)
            if gateway is None:
                raise InvalidArgument(f"ip-range {ip_range} of subnet {subnet} has no usable address for a gateway")
        elif gateway not in subnet or gateway in pool._edges():
            raise InvalidArgument(f"gateway {gateway} is not a usable address of subnet {subnet}")
        pool.gateway = gateway
        return pool

    # -- allocation ---------------------------------------------------------

    @property
    def version(self) -> int:
        return self.subnet.version

    def _edges(self) -> tuple:
        """The addresses never handed out: the network address, and IPv4's broadcast address."""
        if self.version == 6:
            return (self.subnet.network_address,)
        return (self.subnet.network_address, self.subnet.broadcast_address)

    def _usable(self, addr: Address) -> bool:
        return addr not in (*self._edges(), self.gateway)

    def _dynamic_candidates(self) -> Iterable[Address]:
        span = self.ip_range or self.subnet
        edges = self._edges()
        for addr in span:
            if addr not in edges:
                yield addr

    def _address(self, number: int) -> Address:
        return type(self.subnet.network_address)(number)

    def allocate(self, endpoint_id: str, requested: str | None = None) -> Address:
        """Give ``endpoint_id`` an address: ``requested`` if free, else the next free one.

        An endpoint that already holds an address gets the same one back (idempotent
        join after a daemon restart).
        """
        for addr, holder in self.allocated.items():
            if holder == endpoint_id and (requested is None
                                          or parse_address(requested, "IP address", self.version) == ip_address(addr)):
                return ip_address(addr)
        if requested:
            addr = parse_address(requested, "IP address", self.version)
            if addr not in self.subnet:
                # dockerd's words (its status is a 500; bad input is a 400 here), then which subnet it is
                raise InvalidArgument(f"Invalid address {addr}: It does not belong to any of this network's "
                                      f"subnets (the {self.subnet} pool)")
            if not self._usable(addr):
                raise Conflict(f"requested address {addr} is reserved in subnet {self.subnet} (network, broadcast or gateway)")
            if str(addr) in self.allocated:
                holder = self.allocated[str(addr)]
                by = f"auxiliary address {holder[4:]}" if holder.startswith("aux:") else f"endpoint {holder[:12]}"
                raise Conflict(f"address {addr} is already in use on this network (by {by})")
            self.allocated[str(addr)] = endpoint_id
            return addr
        addr = self._next_free()
        if addr is None:
            raise Conflict(f"no free address left in {self.ip_range or self.subnet}: remove a container from the network")
        self.allocated[str(addr)] = endpoint_id
        self.last = str(addr)
        return addr

    def reserve(self, aux_addresses: dict[str, str]) -> None:
        """Keep ``--aux-address`` names' addresses from endpoints: held by ``aux:NAME``, never released."""
        for name, text in aux_addresses.items():
            addr = parse_address(text, f"auxiliary address {name}", self.version)
            if addr not in self.subnet:
                raise InvalidArgument(f"auxiliary address {name}={addr} is not in subnet {self.subnet}")
            if not self._usable(addr) or str(addr) in self.allocated:
                raise InvalidArgument(f"auxiliary address {name}={addr} is the gateway, the network address, "
                                      "the broadcast address or another auxiliary address")
            self.allocated[str(addr)] = f"aux:{name}"

    def _next_free(self) -> Address | None:
        """The first free dynamic address after the last one handed out, wrapping around.

        Walks integers from there and stops at the first free one: a /16 holds 65534
        addresses, and listing them all for each join cost half a second.
        """
        span = self.ip_range or self.subnet
        first, size = int(span.network_address), span.num_addresses
        reserved = {int(a) for a in (*self._edges(), self.gateway)}
        start = int(ip_address(self.last)) + 1 - first if self.last else 0
        if not 0 <= start < size:
            start = 0
        for step in range(min(size, len(self.allocated) + len(reserved) + 1)):
            # at most that many tries: every taken address is skipped once, then one is free
            number = first + (start + step) % size
            if number not in reserved and str(self._address(number)) not in self.allocated:
                return self._address(number)
        return None

    def release(self, endpoint_id: str) -> None:
        """Free every address ``endpoint_id`` holds. Idempotent."""
        for addr in [a for a, holder in self.allocated.items() if holder == endpoint_id]:
            del self.allocated[addr]

    def address_of(self, endpoint_id: str) -> Address | None:
        """The address held by ``endpoint_id``, if any."""
        for addr, holder in self.allocated.items():
            if holder == endpoint_id:
                return ip_address(addr)
        return None

    # -- persistence --------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "subnet": str(self.subnet), "gateway": str(self.gateway),
            "ip_range": str(self.ip_range) if self.ip_range else None,
            "allocated": dict(self.allocated), "last": self.last,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Pool":
        return cls(
            subnet=ip_network(data["subnet"]), gateway=ip_address(data["gateway"]),
            ip_range=ip_network(data["ip_range"]) if data.get("ip_range") else None,
            allocated=dict(data.get("allocated", {})), last=data.get("last", ""),
        )
