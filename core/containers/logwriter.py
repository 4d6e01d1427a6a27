"""The container log writer that exec-driver monitors use: entries cut as Docker cuts them.

Output is cut into entries at newlines; a line longer than 16 KiB is cut into 16 KiB
pieces (Docker's partial messages), and what is left without a newline when the
container exits is written as it is. Each entry gets the time it was read, in
nanoseconds, strictly increasing within one writer (so a reader following the log
across a rotation can resume after the last entry it saw). Entries are encoded by
the log driver's format and appended through a :class:`RotatingFile`.

With Docker's ``mode=non-blocking`` the entries go through a buffer of
``max-buffer-size`` bytes to a writer thread, and are dropped when it is full, so
a slow disk never holds up the container's output (Docker's ring buffer).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Protocol

from berth.containers import jsonlog, locallog
from berth.containers.logfiles import RotatingFile

PARTIAL_LIMIT = 16 * 1024  # Docker's bufSize: longer lines become several entries


class Format(Protocol):
    name: str

    def encode(self, stream: str, data: bytes, ns: int) -> bytes: ...


class LogWriter:
    """Cuts a process's output into entries and appends them to ``file``."""

    def __init__(self, fmt: Format, file: RotatingFile):
        self.format = fmt
        self.file = file
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
        """Stamp and encode ``pieces`` (one read's entries: consecutive nanoseconds) and append them."""
        first = self._now()
        self.last_ns = first + len(pieces) - 1
        encode = self.format.encode
        self.store([encode(stream, piece, first + i) for i, piece in enumerate(pieces)], first)

    def store(self, entries: list[bytes], first_ns: int) -> None:
        self.file.write(entries, first_ns)

    def flush(self) -> None:
        """Write out partial lines (at the process's exit)."""
        for stream, data in self.partial.items():
            if data:
                self.emit(stream, [data])
        self.partial = {"stdout": b"", "stderr": b""}

    def close(self) -> None:
        self.flush()
        self.file.close()


class NonBlockingLogWriter(LogWriter):
    """Docker's ``mode=non-blocking``: a bounded buffer and a writer thread; what does not fit is dropped."""

    def __init__(self, fmt: Format, file: RotatingFile, max_buffer: int):
        super().__init__(fmt, file)
        self.max_buffer = max_buffer
        self.queue: collections.deque[tuple[list[bytes], int]] = collections.deque()
        self.buffered = 0
        self.dropped = 0
        self.cond = threading.Condition()
        self.closing = False
        self.thread = threading.Thread(target=self._drain, name="log-writer", daemon=True)
        self.thread.start()

    def store(self, entries: list[bytes], first_ns: int) -> None:
        size = sum(map(len, entries))
        with self.cond:
            if self.buffered + size > self.max_buffer and self.queue:  # an empty buffer takes anything, as Docker's
                self.dropped += len(entries)
                return
            self.queue.append((entries, first_ns))
            self.buffered += size
            self.cond.notify()

    def _drain(self) -> None:
        while True:
            with self.cond:
                while not self.queue and not self.closing:
                    self.cond.wait()
                if not self.queue:
                    return
                entries, first_ns = self.queue.popleft()
            self.file.write(entries, first_ns)
            with self.cond:
                self.buffered -= sum(map(len, entries))

    def close(self) -> None:
        self.flush()
        with self.cond:
            self.closing = True
            self.cond.notify()
        self.thread.join()
        self.file.close()


def open_writer(io: dict) -> LogWriter | None:
    """The writer an exec driver's monitor uses for ``io`` (an :class:`~berth.hookspecs.types.IOConfig` as a dict).

    None when nothing is to be logged (no ``log_path``: the ``none`` driver, or an exec).
    With ``log_compress`` or a ``log_max_buffer`` it starts a thread: call it before the
    process enters a new pid namespace (``unshare(CLONE_NEWPID)``), after which Linux lets
    it start no thread (the native monitor makes its writer first for this reason).
    """
    path = io.get("log_path")
    if not path:
        return None
    if io.get("log_driver", jsonlog.NAME) == locallog.NAME:
        fmt: Format = locallog.LocalFormat()
        repair = locallog.repair_tail
    else:
        fmt = jsonlog.JsonFileFormat(io.get("log_attrs") or None)
        repair = jsonlog.repair_tail
    file = RotatingFile(path, int(io.get("log_max_size", -1)), int(io.get("log_max_files", 1)),
                        bool(io.get("log_compress")), repair)
    if io.get("log_max_buffer"):
        return NonBlockingLogWriter(fmt, file, int(io["log_max_buffer"]))
    return LogWriter(fmt, file)
