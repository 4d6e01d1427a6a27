"""The container log writer that exec-driver monitors use: entries cut as Docker cuts them.

Output is cut into entries at newlines; a line longer than 16 KiB is cut into 16 KiB
pieces (Docker's partial messages), and what is left without a newline when the
container exits is written as it is. Each entry gets the time it was read, in
nanoseconds, strictly increasing within one writer (so a reader following the log
across a rotation can resume after the last entry it saw). The entries go to the
writer's targets: a :class:`FileTarget` (a log file in a driver's format, rotated by
a :class:`RotatingFile`) and/or a syslog endpoint
(:class:`~berth.containers.syslogsink.SyslogSink`, with the file as Docker's local
cache that ``logs`` reads).

With Docker's ``mode=non-blocking`` the entries go through a buffer of
``max-buffer-size`` bytes to a writer thread, and are dropped when it is full, so
a slow disk or syslog never holds up the container's output (Docker's ring buffer).
"""

from __future__ import annotations

import collections
import errno
import threading
import time
from typing import Protocol

from berth.containers import jsonlog, locallog
from berth.containers.logfiles import RotatingFile

PARTIAL_LIMIT = 16 * 1024  # Docker's bufSize: longer lines become several entries


class Format(Protocol):
    name: str

    def encode(self, stream: str, data: bytes, ns: int) -> bytes: ...


class Target(Protocol):
    """Where entries go: ``write`` gets one read's pieces of one stream, piece ``i`` stamped ``first_ns + i``."""

    def write(self, stream: str, pieces: list[bytes], first_ns: int) -> None: ...

    def close(self) -> None: ...


class FileTarget:
    """Entries encoded in a driver's format, appended to a (rotating) file.

    On a full disk (or quota) the entries that do not fit are dropped and counted, and the
    container runs on, as with dockerd; once a write fits again it is preceded by a ``stderr``
    entry saying how much was lost and why, so a reader of the log sees the gap.
    """

    def __init__(self, fmt: Format, file: RotatingFile):
        self.format = fmt
        self.file = file
        self.lost_entries = 0
        self.lost_bytes = 0
        self.lost_because = ""

    def write(self, stream: str, pieces: list[bytes], first_ns: int) -> None:
        encode = self.format.encode
        entries = [encode(stream, piece, first_ns + i) for i, piece in enumerate(pieces)]
        if self.lost_entries:
            first_ns -= 1  # the writer's stamps are strictly increasing: this one is still after the last
            entries.insert(0, encode("stderr", self._lost_notice(), first_ns))
        try:
            self.file.write(entries, first_ns)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            self.lost_entries += len(pieces)
            self.lost_bytes += sum(map(len, pieces))
            self.lost_because = exc.strerror or str(exc)
            return
        self.lost_entries = self.lost_bytes = 0

    def _lost_notice(self) -> bytes:
        return (f"berth: {self.lost_entries} log entries ({self.lost_bytes} bytes) of this container were not "
                f"logged: {self.lost_because}\n").encode()

    def close(self) -> None:
        self.file.close()


class LogWriter:
    """Cuts a process's output into entries and hands them to its targets."""

    def __init__(self, targets: list[Target]):
        self.targets = targets
        self.partial = {"stdout": b"", "stderr": b""}
        self.last_ns = 0

    def _now(self) -> int:
        ns = time.time_ns()
        self.last_ns = ns if ns > self.last_ns else self.last_ns + 1
        return self.last_ns

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial.get(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        pieces = []
        for line in lines:
            while len(line) >= PARTIAL_LIMIT:  # Docker reads 16 KiB at most: a longer line is several entries
                pieces.append(line[:PARTIAL_LIMIT])
                line = line[PARTIAL_LIMIT:]
            pieces.append(line + b"\n")
        while len(rest) >= PARTIAL_LIMIT:
            pieces.append(rest[:PARTIAL_LIMIT])
            rest = rest[PARTIAL_LIMIT:]
        self.partial[stream] = rest
        if pieces:
            self.emit(stream, pieces)

    def emit(self, stream: str, pieces: list[bytes]) -> None:
        """Stamp ``pieces`` (one read's entries: consecutive nanoseconds) and hand them on."""
        first = self._now()
        self.last_ns = first + len(pieces) - 1
        self.deliver(stream, pieces, first)

    def deliver(self, stream: str, pieces: list[bytes], first_ns: int) -> None:
        for target in self.targets:
            target.write(stream, pieces, first_ns)

    def flush(self) -> None:
        """Write out partial lines (at the process's exit)."""
        for stream, data in self.partial.items():
            if data:
                self.emit(stream, [data])
        self.partial = {"stdout": b"", "stderr": b""}

    def close(self) -> None:
        self.flush()
        for target in self.targets:
            target.close()


class NonBlockingLogWriter(LogWriter):
    """Docker's ``mode=non-blocking``: a bounded buffer and a writer thread; what does not fit is dropped."""

    def __init__(self, targets: list[Target], max_buffer: int):
        super().__init__(targets)
        self.max_buffer = max_buffer
        self.queue: collections.deque[tuple[str, list[bytes], int]] = collections.deque()
        self.buffered = 0
        self.dropped = 0
        self.cond = threading.Condition()
        self.closing = False
        self.thread = threading.Thread(target=self._drain, name="log-writer", daemon=True)
        self.thread.start()

    def deliver(self, stream: str, pieces: list[bytes], first_ns: int) -> None:
        size = sum(map(len, pieces))
        with self.cond:
            if self.buffered + size > self.max_buffer and self.queue:  # an empty buffer takes anything, as Docker's
                self.dropped += len(pieces)
                return
            self.queue.append((stream, pieces, first_ns))
            self.buffered += size
            self.cond.notify()

    def _drain(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closing:
                    self.cond.wait()
                if not self.queue:
                    return
                stream, pieces, first_ns = self.queue.popleft()
            super().deliver(stream, pieces, first_ns)
            with self.cond:
                self.buffered -= sum(map(len, pieces))

    def close(self) -> None:
        self.flush()
        with self.cond:
            self.closing = True
            self.cond.notify()
        self.thread.join()
        for target in self.targets:
            target.close()


def _file_target(io: dict) -> FileTarget:
    if io.get("log_driver", jsonlog.NAME) == locallog.NAME:
        fmt: Format = locallog.LocalFormat()
        repair = locallog.repair_tail
    else:
        fmt = jsonlog.JsonFileFormat(io.get("log_attrs") or None)
        repair = jsonlog.repair_tail
    return FileTarget(fmt, RotatingFile(io["log_path"], int(io.get("log_max_size", -1)),
                                        int(io.get("log_max_files", 1)), bool(io.get("log_compress")), repair))


def open_writer(io: dict) -> LogWriter | None:
    """The writer an exec driver's monitor uses for ``io`` (an :class:`~berth.hookspecs.types.IOConfig` as a dict).

    None when nothing is to be logged (no ``log_path`` nor ``log_syslog``: the ``none``
    driver, or an exec). With ``log_compress`` or a ``log_max_buffer`` it starts a thread:
    call it before the process enters a new pid namespace (``unshare(CLONE_NEWPID)``), after
    which Linux lets it start no thread (the native monitor makes its writer first for this reason).
    """
    targets: list[Target] = []
    if io.get("log_syslog"):
        from berth.containers.syslogsink import SyslogSink

        targets.append(SyslogSink(io["log_syslog"]))
    if io.get("log_path"):
        targets.append(_file_target(io))
    if not targets:
        return None
    if io.get("log_max_buffer"):
        return NonBlockingLogWriter(targets, int(io["log_max_buffer"]))
    return LogWriter(targets)
