"""Copying hijacked attach/exec streams to the terminal: demultiplexing, stdin, raw TTY mode."""

from __future__ import annotations

import os
import struct
import sys
import threading


def _reader(source):
    """A hijacked socket has ``recv``; an HTTP response (logs) has ``read1``."""
    return getattr(source, "recv", None) or source.read1


def _read_exact(recv, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = recv(n - len(buf))
        if not chunk:
            return buf
        buf += chunk
    return buf


def pump_output(sock, tty: bool) -> None:
    """Write the container's output to our stdout/stderr until the daemon closes the stream."""
    out, err = sys.stdout.buffer, sys.stderr.buffer
    recv = _reader(sock)
    if tty:
        while chunk := recv(65536):
            out.write(chunk)
            out.flush()
        return
    while True:
        header = _read_exact(recv, 8)
        if len(header) < 8:
            return
        stream, length = header[0], struct.unpack(">L", header[4:])[0]
        payload = _read_exact(recv, length)
        target = err if stream == 2 else out
        target.write(payload)
        target.flush()


def pump_stdin(sock) -> threading.Thread:
    """Forward our stdin to the container in the background; close its stdin at our EOF."""

    def copy() -> None:
        fd = sys.stdin.fileno()
        try:
            while data := os.read(fd, 65536):
                sock.sendall(data)
        except OSError:
            return
        sock.shutdown_write()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


class RawTerminal:
    """Put our terminal in raw mode for ``-t`` and restore it however we leave."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and sys.stdin.isatty()
        self.saved = None

    def __enter__(self) -> "RawTerminal":
        if self.enabled:
            import termios
            import tty

            self.saved = termios.tcgetattr(sys.stdin.fileno())
            tty.setraw(sys.stdin.fileno())
        return self

    def __exit__(self, *exc) -> None:
        if self.saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self.saved)


def terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.stdout.fileno())
        return size.lines, size.columns
    except OSError:
        return 0, 0
