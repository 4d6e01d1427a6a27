"""The fork server: a single-threaded process that forks monitors on request.

Starting a container must not pay for a fresh Python interpreter. The driver
spawns this server once (``python -m berth.plugins.execdrivers.native.forkserver``);
it imports everything a monitor and a container init need, then waits on a
SEQPACKET socket. Each request carries a reply socket (SCM_RIGHTS); the server
double-forks so the monitor ends up in its own session, reparented away from
both the server and the daemon, and closes its copy of the reply socket.

The server exits when the daemon's end of its socket closes; monitors it made
keep running.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading

from . import channel

# Everything the monitor and the container's init use, imported once here so a
# fork starts warm (and so nothing is imported after pivot_root).
from . import attach, caps, cgroups, init, monitor, process, rootfs, state, syscalls  # noqa: F401
import cgroupspy.nodes  # noqa: F401,E402
import cgroupspy.controllers  # noqa: F401,E402


def _spawn_monitor(request: dict, reply_fd: int, server: socket.socket) -> None:
    """Double-fork: the grandchild becomes the monitor in a new session, then we reap the middle one."""
    pid = os.fork()
    if pid == 0:
        try:
            server.close()
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            reply = socket.socket(fileno=reply_fd)
            if request["op"] == "create":
                monitor.run_container(request, reply)
            elif request["op"] == "exec":
                monitor.run_exec(request, reply)
            channel.send(reply, {"ok": False, "error": f"unknown fork server request {request['op']!r}"})
        finally:
            os._exit(1)
    os.close(reply_fd)
    os.waitpid(pid, 0)


def serve(server: socket.socket) -> None:
    """Answer requests until the daemon closes its end."""
    while True:
        try:
            message, fds = channel.recv(server)
        except ConnectionResetError:
            return
        if message is None:
            return
        if not fds:
            continue
        _spawn_monitor(message, fds[0], server)
        for extra in fds[1:]:
            os.close(extra)


def main() -> None:
    # Terminal signals meant for the daemon must not take the server (or, through it, new monitors) down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    assert threading.active_count() == 1, "the fork server must stay single-threaded"
    server = socket.socket(fileno=int(sys.argv[1]))
    serve(server)


if __name__ == "__main__":
    main()
