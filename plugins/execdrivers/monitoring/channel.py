"""Message passing between the daemon, the fork server, monitors and container inits.

Every channel is an AF_UNIX SOCK_SEQPACKET socket: one JSON object per message,
optionally with file descriptors (SCM_RIGHTS), and a clean EOF when the peer
goes away (including at a successful execve, since our fds are CLOEXEC).
"""

from __future__ import annotations

import json
import os
import socket

MAX_MESSAGE = 1 << 20


def pair() -> tuple[socket.socket, socket.socket]:
    """A connected, close-on-exec SEQPACKET pair."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock: socket.socket, message: dict, fds: list[int] | tuple[int, ...] = ()) -> None:
    """Send one message (and fds)."""
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.sendall(data)


def recv(sock: socket.socket, max_fds: int = 4) -> tuple[dict | None, list[int]]:
    """Receive one message; (None, []) at EOF. Received fds are close-on-exec."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, max_fds, socket.MSG_CMSG_CLOEXEC)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), fds


def short_path(path: str) -> tuple[str, int | None]:
    """A path usable for bind/connect even past the 107-byte sun_path limit.

    Long paths go through ``/proc/self/fd/<dirfd>/<name>``; the caller closes the
    returned fd (None when the path was short enough).
    """
    if len(path.encode()) < 100:
        return path, None
    fd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd


def connect(path: str, kind: int = socket.SOCK_SEQPACKET, timeout: float | None = None) -> socket.socket:
    """Connect to the unix socket at ``path``."""
    sock = socket.socket(socket.AF_UNIX, kind)
    sock.settimeout(timeout)
    usable, fd = short_path(path)
    try:
        sock.connect(usable)
    except BaseException:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


def listen(path: str, kind: int = socket.SOCK_SEQPACKET, mode: int = 0o600) -> socket.socket:
    """Bind and listen on the unix socket at ``path`` (replacing a stale socket file)."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    sock = socket.socket(socket.AF_UNIX, kind)
    usable, fd = short_path(path)
    try:
        sock.bind(usable)
    finally:
        if fd is not None:
            os.close(fd)
    os.chmod(path, mode)
    sock.listen(16)
    return sock
