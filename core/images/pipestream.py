"""A readable stream fed by a producer thread (Moby's ``io.Pipe`` + goroutine).

Diffs are produced while the consumer reads them, so a layer never has to fit in
memory or in a temporary file. A producer failure surfaces as an error on the
reader instead of a silently short tar; closing the reader early stops the
producer (its next write fails with a broken pipe) and runs the release callback
(e.g. unmounting the layer) exactly once.
"""

from __future__ import annotations

import io
import os
import threading
from typing import BinaryIO, Callable

from berth.errors import DriverError


class _PipeReader(io.RawIOBase):
    def __init__(self, produce: Callable[[BinaryIO], None], release: Callable[[], None] | None, what: str):
        super().__init__()
        rfd, wfd = os.pipe2(os.O_CLOEXEC)
        self._rfd = rfd
        self._release = release
        self._what = what
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(produce, wfd), name=f"berth-stream {what}", daemon=True)
        self._thread.start()

    def _run(self, produce: Callable[[BinaryIO], None], wfd: int) -> None:
        try:
            with open(wfd, "wb", buffering=1 << 16) as out:
                produce(out)
        except BrokenPipeError:
            pass  # the reader went away; nothing to report to it
        except BaseException as exc:  # reported to the reader at end of stream
            self._error = exc

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = os.readv(self._rfd, [buf])
        if n == 0:
            self._thread.join()
            if self._error is not None:
                err, self._error = self._error, None
                raise DriverError(f"producing {self._what} failed: {type(err).__name__}: {err}") from err
        return n

    def close(self) -> None:
        if self.closed:
            return
        try:
            os.close(self._rfd)
            self._thread.join()
        finally:
            release, self._release = self._release, None
            super().close()
            if release is not None:
                release()


def producer_stream(produce: Callable[[BinaryIO], None], release: Callable[[], None] | None = None,
                    what: str = "stream") -> BinaryIO:
    """Return a buffered reader of whatever ``produce(out)`` writes, run in a thread.

    ``release`` runs once when the reader is closed (after the producer finished).
    """
    return io.BufferedReader(_PipeReader(produce, release, what), buffer_size=1 << 16)


def read_exactly(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of ``stream`` (a pipe may return short reads)."""
    chunks, got = [], 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
