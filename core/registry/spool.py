"""A blob in flight: written by its download, read at the same time by the layer's extraction.

A pull downloads every layer at once but must apply them in chain order, so a
layer's bytes may arrive long before its extraction starts, or while it runs.
:class:`BlobSpool` sits between the two: the download (on the event loop) appends
what the socket gives, never waiting; the extraction (a worker thread) reads,
waiting only when it has caught up with the network. The first layer is thus
extracted as it streams in, and later ones start from what already arrived.

Bytes are kept in memory up to a limit per blob; past it they go to an unnamed
temporary file (``O_TMPFILE``) in the pull's temporary directory, so an image
larger than memory still pulls. Nothing is left on disk whatever happens.

The download ends the spool with :meth:`finish` (verified) or :meth:`fail`; a
reader that reaches the end of a failed spool gets the download's error, so an
unverified blob is never taken for a whole one. :meth:`abort` wakes a waiting
reader with an error (the pull gave up).
"""

from __future__ import annotations

import collections
import io
import os
import tempfile
import threading
import time
from typing import Callable

MEMORY_LIMIT = 8 << 20  # per blob: past this, what the extraction has not read yet goes to a file


class BlobSpool:
    """One blob's bytes, from one writer (the download) to one reader (the extraction)."""

    def __init__(self, directory: str, memory_limit: int = MEMORY_LIMIT):
        self._directory = directory
        self._memory_limit = memory_limit
        self._cond = threading.Condition()
        self._chunks: collections.deque[memoryview] = collections.deque()  # in memory, before the file's bytes
        self._in_memory = 0
        self._fd = -1  # the overflow file, once needed
        self._file_end = 0  # bytes written to it
        self._file_pos = 0  # bytes read from it
        self._ended = False
        self._error: BaseException | None = None
        self.received = 0
        self.consumed = 0
        self.waited = 0.0  # seconds the reader spent waiting for bytes

    # -- writer (the download) ------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Append ``data``; never waits for the reader."""
        with self._cond:
            if self._ended:
                return  # aborted: the reader is gone
            if self._file_pos == self._file_end and self._in_memory + len(data) <= self._memory_limit:
                self._chunks.append(memoryview(data))
                self._in_memory += len(data)
            else:  # the file holds unread bytes (order!) or memory is full
                self._overflow(data)
            self.received += len(data)
            self._cond.notify()

    def _overflow(self, data: bytes) -> None:
        if self._fd < 0:
            self._fd = _anonymous_file(self._directory)
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, self._file_end)
            self._file_end += n
            view = view[n:]

    def finish(self) -> None:
        """The whole blob was written and verified: the reader sees its end after the last byte."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def fail(self, error: BaseException) -> None:
        """The download failed: the reader gets ``error`` instead of an end (at once if it is waiting)."""
        with self._cond:
            if self._error is None:
                self._error = error
            self._ended = True
            self._cond.notify_all()

    abort = fail  # the pull gave up: the same for the reader

    # -- reader (the extraction) ------------------------------------------------------

    def readinto(self, buf) -> int:
        """Up to ``len(buf)`` bytes; 0 at the end of a finished blob; waits while none have arrived yet."""
        want = len(buf)
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                if self._chunks:
                    return self._from_memory(buf, want)
                if self._file_pos < self._file_end:
                    return self._from_file(buf, want)
                if self._ended:
                    return 0
                started = time.monotonic()
                self._cond.wait()
                self.waited += time.monotonic() - started

    def _from_memory(self, buf, want: int) -> int:
        chunk = self._chunks[0]
        n = min(want, len(chunk))
        buf[:n] = chunk[:n]
        if n == len(chunk):
            self._chunks.popleft()
        else:
            self._chunks[0] = chunk[n:]
        self._in_memory -= n
        self.consumed += n
        return n

    def _from_file(self, buf, want: int) -> int:
        n = os.preadv(self._fd, [memoryview(buf)[:min(want, self._file_end - self._file_pos)]], self._file_pos)
        self._file_pos += n
        self.consumed += n
        return n

    def close(self) -> None:
        """Drop what is held (after the reader is done); the overflow file disappears with its descriptor."""
        with self._cond:
            self._chunks.clear()
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class SpoolReader(io.RawIOBase):
    """A spool as a readable stream; ``on_read(consumed)`` after each read (progress)."""

    def __init__(self, spool: BlobSpool, on_read: Callable[[int], None] | None = None):
        super().__init__()
        self._spool = spool
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._spool.readinto(buf)
        if self._on_read is not None and n:
            self._on_read(self._spool.consumed)
        return n


def _anonymous_file(directory: str) -> int:
    """A read-write file in ``directory`` that has no name (gone when closed, even after a crash)."""
    try:
        return os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:  # a filesystem without O_TMPFILE: a named file, unlinked at once
        fd, path = tempfile.mkstemp(dir=directory, prefix="blob-", suffix=".part")
        os.unlink(path)
        return fd
