"""The fork server: a single-threaded process that forks monitors on request.

Starting a container must not pay for a fresh Python interpreter. A driver
spawns this server once (``python -m berth.plugins.execdrivers.monitoring.forkserver
FD MODULE...``); it imports the driver's modules (everything a monitor and a
container init need), then waits on a SEQPACKET socket. Each request names the
monitor's entry point (``"entry": "package.module:function"``, which must live in
one of the preloaded modules) and carries a reply socket (SCM_RIGHTS); the server
forks the monitor into a session of its own and closes its copy of the reply socket.
It ignores SIGCHLD, so the kernel reaps monitors as they exit: one fork per monitor,
which matters for execs (a healthcheck probe is one every few seconds per container).

The server exits when the daemon's end of its socket closes; monitors it made
keep running (reparented to init).
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import socket
import sys
import threading
from typing import Callable

from . import channel

_entries: dict[str, Callable[[dict, socket.socket], None]] = {}


def resolve(entry: str) -> Callable[[dict, socket.socket], None]:
    """The monitor function named ``module:function``; only preloaded modules are accepted."""
    module_name, _, func = entry.partition(":")
    module = sys.modules.get(module_name)
    if module is None or not func:
        raise LookupError(f"monitor entry {entry!r} is not in a module the fork server preloaded")
    return getattr(module, func)


def _spawn_monitor(request: dict, reply_fd: int, server: socket.socket) -> None:
    """Fork the monitor into a session of its own; the kernel reaps it (SIGCHLD is ignored here)."""
    pid = os.fork()
    if pid == 0:
        try:
            server.close()
            os.setsid()
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
                signal.signal(sig, signal.SIG_DFL)  # a monitor waits for its own children
            reply = socket.socket(fileno=reply_fd)
            try:
                run = resolve(request.get("entry", ""))
            except (LookupError, AttributeError) as exc:
                channel.send(reply, {"ok": False, "error": str(exc)})
            else:
                run(request, reply)
        finally:
            os._exit(1)
    os.close(reply_fd)


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
    # Monitors are our children: ignoring SIGCHLD has the kernel reap them, so none lingers as a
    # zombie and one fork per monitor is enough (no double fork).
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    for name in sys.argv[2:]:
        importlib.import_module(name)  # warm: monitors forked later import nothing
    # Everything imported so far lives as long as we do: keep it out of the collector's sight, so
    # that a monitor's collections never write to (and so copy) the pages it shares with us.
    gc.freeze()
    assert threading.active_count() == 1, "the fork server must stay single-threaded"
    server = socket.socket(fileno=int(sys.argv[1]))
    serve(server)


if __name__ == "__main__":
    main()
