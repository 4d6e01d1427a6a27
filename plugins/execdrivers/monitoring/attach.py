"""The monitor's side of stdio: the attach socket's clients and Docker's stream framing.

Clients of the attach socket receive the container's output from the moment
they connect (raw bytes with a tty, else Docker's multiplexed frames) and may
send bytes for the container's stdin.
"""

from __future__ import annotations

import socket

from berth.driverkit import STDERR, STDOUT, frame  # noqa: F401 (the monitors' framing, from the SDK)

#: A client that falls this far behind is dropped rather than stalling the container.
MAX_BACKLOG = 8 << 20


class AttachClient:
    """One connection on the attach socket, with its pending output."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.sock.setblocking(False)
        self.pending = bytearray()
        self.reading = True  # False once the client shut its write side

    def fileno(self) -> int:
        return self.sock.fileno()

    def queue(self, data: bytes) -> bool:
        """Add output; False when the client is too far behind and should be dropped."""
        self.pending += data
        return len(self.pending) <= MAX_BACKLOG

    def flush(self) -> bool:
        """Send what the socket takes now; False when the client is gone."""
        try:
            while self.pending:
                sent = self.sock.send(self.pending)
                del self.pending[:sent]
        except BlockingIOError:
            return True
        except OSError:
            return False
        return True

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
