"""Bringing a network namespace's ``lo`` up with one ioctl, as runc and crun do.

A netlink session (pyroute2's ``IPRoute``: sockets, a dump of the links) costs
milliseconds for what is one flag on an interface every new namespace has; an
``AF_INET`` socket made inside the namespace reaches its ``lo`` directly.
"""

from __future__ import annotations

import fcntl
import socket
import struct

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFREQ = struct.Struct("16sH14x")  # struct ifreq: the interface name, then ifr_flags


def bring_up(sock: socket.socket | None = None) -> None:
    """Set ``lo`` up in the network namespace of ``sock`` (None: a socket made now, in the calling
    thread's namespace). OSError (ENODEV) when the namespace has no ``lo``."""
    own = sock is None
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        _, flags = _IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0)))
        if not flags & IFF_UP:
            fcntl.ioctl(sock, SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | IFF_UP))
    finally:
        if own:
            sock.close()
