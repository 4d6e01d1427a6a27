"""The addresses of the network namespace berthd runs in, as ``swarm init`` needs to see them.

Read without netlink (that belongs to the network drivers) and without sysfs (which
shows the namespace it was mounted in, not berthd's when berthd was started with
``nsenter --net``): interface names from ``if_nameindex``, flags from the
``SIOCGIFFLAGS`` ioctl, IPv4 addresses from ``SIOCGIFCONF``, IPv6 ones from
``/proc/net/if_inet6``. An interface is a *device* (netlink's word for a link
without a kind: a real NIC, or the loopback) when it is the loopback or when its
driver reports a bus (``ETHTOOL_GDRVINFO``): bridges, veths and dummies have none.
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import socket
import struct
from dataclasses import dataclass, field

SIOCGIFFLAGS, SIOCGIFCONF, SIOCETHTOOL = 0x8913, 0x8912, 0x8946
ETHTOOL_GDRVINFO = 0x3
IFREQ_SIZE = 40  # struct ifreq on 64-bit Linux
IFF_UP, IFF_LOOPBACK = 0x1, 0x8


@dataclass
class Interface:
    name: str
    up: bool
    loopback: bool
    device: bool
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = field(default_factory=list)


def interfaces() -> list[Interface]:
    """Every interface of this network namespace with its addresses, in the kernel's order."""
    out: dict[str, Interface] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            flags = _flags(s, name)
            loopback = bool(flags & IFF_LOOPBACK)
            out[name] = Interface(name, bool(flags & IFF_UP), loopback, loopback or _has_bus(s, name))
        for name, address in [*_ipv4_addresses(s), *_ipv6_addresses()]:
            if name in out:
                out[name].addresses.append(address)
    return list(out.values())


def _flags(s: socket.socket, name: str) -> int:
    try:
        result = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, struct.pack("16sH22x", name.encode(), 0))
    except OSError:
        return 0
    return struct.unpack("16sH22x", result)[1]


def _has_bus(s: socket.socket, name: str) -> bool:
    """Whether the interface's driver names a bus (PCI, USB...): hardware, not a virtual link."""
    info = array.array("B", struct.pack("I", ETHTOOL_GDRVINFO) + b"\0" * 192)
    try:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, struct.pack("16sP", name.encode(), info.buffer_info()[0]))
    except OSError:
        return False
    bus = info.tobytes()[4 + 96:4 + 128].split(b"\0", 1)[0].decode(errors="replace")
    return bus not in ("", "N/A")


def _ipv4_addresses(s: socket.socket) -> list[tuple[str, ipaddress.IPv4Address]]:
    buffer = array.array("B", b"\0" * IFREQ_SIZE * 256)
    request = struct.pack("iL", len(buffer), buffer.buffer_info()[0])
    length = struct.unpack("iL", fcntl.ioctl(s.fileno(), SIOCGIFCONF, request))[0]
    data = buffer.tobytes()[:length]
    out = []
    for offset in range(0, length, IFREQ_SIZE):
        label = data[offset:offset + 16].split(b"\0", 1)[0].decode()
        address = ipaddress.IPv4Address(data[offset + 20:offset + 24])
        out.append((label.split(":", 1)[0], address))  # "eth0:1" is an alias label on eth0
    return out


def _ipv6_addresses() -> list[tuple[str, ipaddress.IPv6Address]]:
    try:
        with open("/proc/net/if_inet6") as f:  # /proc/net is the reading thread's namespace
            text = f.read()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 6:
            out.append((fields[5], ipaddress.IPv6Address(int(fields[0], 16))))
    return out


def is_global_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Go's ``IP.IsGlobalUnicast``: not loopback, link-local, multicast, unspecified or broadcast."""
    return not (address.is_loopback or address.is_link_local or address.is_multicast or address.is_unspecified
                or address == ipaddress.IPv4Address("255.255.255.255"))
