"""Copying hijacked attach/exec streams to the terminal: demultiplexing, stdin, raw TTY, detach keys, resize,
and the exit status a session ends with."""

from __future__ import annotations

import _socket  # the constant only: the socket module imports enum (a few ms of every run/exec)
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: the CLI does not pay for importing typing
    import threading
    from typing import Any, Callable


def _reader(source):
    """A hijacked socket has ``recv``; an HTTP response (logs) has ``read1``."""
    return getattr(source, "recv", None) or source.read1


def pump_output(sock, tty: bool) -> None:
    """Write the container's output to our stdout/stderr until the daemon closes the stream.

    Frames are parsed out of whatever one read brought and written with one flush per run of
    one stream (a flush where the stream switches keeps stdout and stderr in order): a log of
    many short lines costs a few system calls per 64 KiB, not per line.
    """
    out, err = sys.stdout.buffer, sys.stderr.buffer
    recv = _reader(sock)
    if tty:
        while chunk := recv(65536):
            out.write(chunk)
            out.flush()
        return
    buf = b""
    while chunk := recv(65536):
        buf += chunk
        target, pos = None, 0
        while len(buf) - pos >= 8:
            length = int.from_bytes(buf[pos + 4:pos + 8], "big")
            if len(buf) - pos - 8 < length:
                break
            frame_target = err if buf[pos] == 2 else out
            if target is not None and frame_target is not target:
                target.flush()
            target = frame_target
            target.write(buf[pos + 8:pos + 8 + length])
            pos += 8 + length
        if target is not None:
            target.flush()
        buf = buf[pos:]


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's ``--detach-keys`` -> the byte sequence; a bad spec ends the command with the reason."""
    from berth import detachkeys

    try:
        return detachkeys.parse(spec)
    except ValueError as exc:
        raise SystemExit(f"berth: {exc}") from None


def pump_stdin(sock, detach_keys: bytes = b"", on_detach: Callable[[], None] | None = None) -> threading.Thread:
    """Forward our stdin to the container in the background; close its stdin at our EOF.

    With ``detach_keys``, typing them ends the session (``on_detach``) without closing the container's stdin.
    """
    import threading  # only with stdin: it imports functools and collections (~4 ms of a plain run)

    from berth.detachkeys import Scanner

    filt = Scanner(detach_keys)

    def copy() -> None:
        fd = sys.stdin.fileno()
        try:
            while data := os.read(fd, 65536):
                data = filt.feed(data)
                if data:
                    sock.sendall(data)
                if filt.detached:
                    if on_detach:
                        on_detach()
                    return
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
    for stream in (sys.stdout, sys.stdin, sys.stderr):
        try:
            size = os.get_terminal_size(stream.fileno())
            return size.lines, size.columns
        except (OSError, ValueError):
            continue
    return 0, 0


class ResizeForwarder:
    """Send our terminal's size now and on every SIGWINCH (``POST .../resize?h=&w=``)."""

    def __init__(self, send: Callable[[int, int], None]):
        self.send = send
        self.previous = None

    def __enter__(self) -> "ResizeForwarder":
        import signal

        self.update()
        self.previous = signal.signal(signal.SIGWINCH, lambda *_: self.update())
        return self

    def update(self) -> None:
        height, width = terminal_size()
        if height and width:
            try:
                self.send(height, width)
            except Exception:  # a resize racing the container's exit is harmless
                pass

    def __exit__(self, *exc) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGWINCH, self.previous)


def interact(sock, tty: bool, stdin: bool, detach_keys: str | None, resize: Callable[[int, int], None] | None,
             ) -> bool:
    """Run an attached session until the stream ends; True when the user detached with the detach keys."""
    keys = parse_detach_keys(detach_keys) if stdin else b""  # empty: Docker's ctrl-p,ctrl-q
    detached: list[bool] = []  # set by the stdin thread, read once the output ends

    def detach() -> None:
        detached.append(True)
        try:
            sock.sock.shutdown(_socket.SHUT_RDWR)  # wakes the output pump on the main thread
        except (OSError, AttributeError):
            pass

    with RawTerminal(tty and stdin):
        resizer = ResizeForwarder(resize) if (tty and resize and sys.stdin.isatty()) else None
        if resizer:
            resizer.__enter__()
        try:
            if stdin:
                pump_stdin(sock, keys, detach)
            pump_output(sock, tty)
        finally:
            if resizer:
                resizer.__exit__()
    sock.close()
    return bool(detached)


def exit_status(waiter: Any, error_code: int | None = None) -> int:
    """The exit code a ``/wait`` answer carries; when it reports an error, that is printed and ``error_code``
    (``run``: 125) replaces the code."""
    from berth.cli.fastjson import loads

    try:
        status = loads(waiter.read() or b"{}")
    except ValueError:
        return 125
    if status.get("Error") and status["Error"].get("Message"):
        print(status["Error"]["Message"], file=sys.stderr)
        if error_code is not None:
            return error_code
    return int(status.get("StatusCode", 125))
