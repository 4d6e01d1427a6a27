"""The daemon's side of the fork server: spawn it once, send it requests, read monitors' replies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from typing import Callable

from . import channel

_MODULE = "berth.plugins.execdrivers.monitoring.forkserver"


class ForkServerClient:
    """Spawns the fork server lazily and forwards create/exec requests to it (thread-safe)."""

    def __init__(self, root: str, preload: list[str]):
        """``preload``: modules the server imports at start; request entry points must live in them."""
        self.root = root
        self.preload = list(preload)
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen | None = None

    def _spawn(self) -> None:
        ours, theirs = channel.pair()
        log = os.open(os.path.join(self.root, "forkserver.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", _MODULE, str(theirs.fileno()), *self.preload],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=log, start_new_session=True, close_fds=True,
            )
        finally:
            os.close(log)
            theirs.close()
        self.sock = ours

    def request(self, message: dict, timeout: float | None = 120.0,
                while_waiting: Callable[[], None] | None = None) -> dict:
        """Have a monitor forked for ``message`` and return its first reply.

        ``while_waiting`` runs in this thread once the request is sent, before the reply is
        read (work that overlaps the monitor's); whatever it raises is ignored.
        """
        ours, theirs = channel.pair()
        try:
            with self.lock:
                for attempt in (1, 2):
                    if self.sock is None or (self.proc is not None and self.proc.poll() is not None):
                        self._reset()
                        self._spawn()
                    try:
                        channel.send(self.sock, message, [theirs.fileno()])
                        break
                    except (BrokenPipeError, ConnectionResetError):
                        self._reset()
                        if attempt == 2:
                            raise
            theirs.close()
            if while_waiting is not None:
                try:
                    while_waiting()
                except Exception:  # noqa: BLE001 - an optimisation must never fail the request
                    pass
            ours.settimeout(timeout)
            reply, fds = channel.recv(ours)
            for fd in fds:
                os.close(fd)
        finally:
            ours.close()
            if theirs.fileno() >= 0:
                theirs.close()
        if reply is None:
            log = os.path.join(message.get("dir", self.root), "monitor.log")
            raise RuntimeError(f"the monitor exited without answering; see {log}")
        return reply

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else 0

    def _reset(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def close(self) -> None:
        """Stop the server (closing its socket makes it exit); monitors keep running."""
        with self.lock:
            self._reset()
