"""Reading a container's log back: every rotated file and the current one, in bounded memory.

A log is the files of :mod:`berth.containers.logfiles` (``path.N[.gz]`` … ``path.1[.gz]``,
then ``path``) in one of two formats (:mod:`~berth.containers.jsonlog`,
:mod:`~berth.containers.locallog`). ``--tail N`` reads backwards from the end,
through older files only while it needs more (a compressed file is streamed,
keeping its last lines); everything else streams forwards in blocks, skipping
files whose last entry is older than ``--since`` (for a compressed one, the time in
its gzip header), and ends at the first entry after ``--until``.

Following holds the current file open: when the writer rotates, the reader
finishes the file it holds, then resumes after the last entry it saw (entry times
are strictly increasing within a writer), in whatever files now hold the newer
entries. Without ``follow`` the read ends at what the current file held when asked.
"""

from __future__ import annotations

import asyncio
import collections
import os
from dataclasses import dataclass
from typing import AsyncIterator, BinaryIO, Callable

from berth.containers import jsonlog, locallog, logfiles
from berth.containers.jsonlog import LogEntry

_BLOCK = 1 << 20
_MAX_PENDING = 1 << 24  # a record still unfinished at this size is damage, not a record being written
FORMATS = {jsonlog.NAME: jsonlog, locallog.NAME: locallog}


@dataclass(frozen=True)
class LogSource:
    """Where a container's log is and how it was written (its driver's format and ``max-file``)."""

    path: str
    driver: str = jsonlog.NAME
    max_files: int = 1


class _Window:
    """Which entries a request wants: streams, since/until (ns, inclusive; 0: no bound), and those after
    ``after`` (a resume point)."""

    def __init__(self, streams: set[str], since: int, until: int):
        self.streams = streams
        self.since = since
        self.until = until
        self.after = 0  # the newest entry seen so far: nothing at or before it is given twice
        self.ended = False  # an entry after ``until`` was seen: the read is over

    def take(self, records: list[bytes], fmt) -> list[LogEntry]:
        out = []
        for record in records:
            entry = fmt.decode(record)
            if entry is None or entry.ns <= self.after:
                continue
            if self.until and entry.ns > self.until:
                self.ended = True
                break
            self.after = entry.ns
            if entry.stream in self.streams and entry.ns >= self.since:
                out.append(entry)
        return out


class _Forward:
    """Complete records of an open file read forwards a block at a time, up to ``stop`` bytes (None: no end)."""

    def __init__(self, f: BinaryIO, fmt, stop: int | None = None, finished: bool = False):
        self.f, self.fmt, self.stop = f, fmt, stop
        self.read = 0
        self.pending = b""
        self.progressed = False  # the last next() read something (its records may all have been filtered out)
        if finished:
            self.finish()

    def finish(self) -> None:
        """The file will not grow any more (it was rotated away): read it to its end."""
        self.stop = 1 << 62

    def next(self) -> list[bytes] | None:
        """The next records: [] when there is nothing new yet, None at ``stop`` or at the end of a finished file.

        Reads on while what it has is only the start of a record (a record longer than a block).
        """
        self.progressed = False
        while True:
            want = _BLOCK if self.stop is None else min(_BLOCK, self.stop - self.read)
            chunk = self.f.read(want) if want > 0 else b""
            if not chunk:
                return [] if self.stop is None else None
            self.progressed = True
            self.read += len(chunk)
            data = self.pending + chunk
            records, used = self.fmt.split_records(data)
            self.pending = data[used:]
            if len(self.pending) > _MAX_PENDING:
                self.pending = b""  # damaged beyond framing: drop it rather than hold the file in memory
            if records:
                return records


def _open(path: str) -> BinaryIO | None:
    try:
        return open(path, "rb", buffering=0)
    except FileNotFoundError:
        return None


def _last_ns(name: str, fmt) -> int:
    """The time of a rotated file's last entry (0 when unknown: the file must be read)."""
    if name.endswith(".gz"):
        text = logfiles.gzip_last_time(name)
        try:
            return jsonlog.timestamp_ns(text) if text else 0
        except ValueError:
            return 0
    f = _open(name)
    if f is None:
        return 0
    with f:
        records, _ = fmt.last_records(f, os.fstat(f.fileno()).st_size, 1, _BLOCK)
    entry = fmt.decode(records[-1]) if records else None
    return entry.ns if entry is not None else 0


def _older_files(source: LogSource, fmt, skip_through: int) -> list[str]:
    """Rotated files, oldest first, without those whose last entry is at or before ``skip_through`` (ns)."""
    names = logfiles.rotated_files(source.path, source.max_files)
    if not skip_through:
        return names
    return [name for name in names if not 0 < _last_ns(name, fmt) <= skip_through]


def _tail_of(f: BinaryIO, fmt, count: int, plain: bool) -> list[bytes]:
    """The last ``count`` records of a rotated file (a compressed one is streamed through)."""
    if plain:
        return fmt.last_records(f, os.fstat(f.fileno()).st_size, count, _BLOCK)[0]
    kept: collections.deque[bytes] = collections.deque(maxlen=count)
    reader = _Forward(f, fmt, finished=True)
    while (records := reader.next()) is not None:
        kept.extend(records)
    return list(kept)


def _tail(source: LogSource, fmt, current: BinaryIO, count: int) -> tuple[list[bytes], int]:
    """The last ``count`` records across the files, oldest first, and the offset in ``current`` after them."""
    records, offset = fmt.last_records(current, os.fstat(current.fileno()).st_size, count, _BLOCK)
    current.seek(offset)
    for name in reversed(logfiles.rotated_files(source.path, source.max_files)):
        if len(records) >= count:
            break
        f = logfiles.open_member(name)
        if f is not None:
            with f:
                records = _tail_of(f, fmt, count - len(records), not name.endswith(".gz")) + records
    return records, offset


def _rotated_away(path: str, f: BinaryIO) -> bool:
    """True when ``path`` is no longer the file we hold (the writer rotated it, or the log was removed)."""
    try:
        return os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
    except FileNotFoundError:
        return True


def _next_batch(reader: _Forward, window: _Window) -> list[LogEntry] | None:
    """Read and decode the next block in a worker thread (decoding a block would hold up the event loop)."""
    records = reader.next()
    return None if records is None else window.take(records, reader.fmt)


async def _drain(reader: _Forward, window: _Window) -> AsyncIterator[list[LogEntry]]:
    """Every wanted entry from ``reader`` until its end (or ``until`` is passed), a block at a time."""
    while not window.ended and (batch := await asyncio.to_thread(_next_batch, reader, window)) is not None:
        if batch:
            yield batch


async def _older(source: LogSource, fmt, window: _Window) -> AsyncIterator[list[LogEntry]]:
    """The wanted entries of the rotated files that are newer than what ``window`` saw, oldest first.

    The files are listed again until a listing brings nothing new: a rotation while
    they are listed moves them under the reader (the writer takes no lock readers see).
    """
    while not window.ended:
        seen = window.after
        skip_through = max(window.after, window.since - 1 if window.since else 0)
        for name in await asyncio.to_thread(_older_files, source, fmt, skip_through):
            f = await asyncio.to_thread(logfiles.open_member, name)
            if f is None:
                continue
            try:
                async for batch in _drain(_Forward(f, fmt, finished=True), window):
                    yield batch
            finally:
                f.close()
            if window.ended:
                return
        if window.after == seen:
            return


async def read_log(source: LogSource, *, follow: bool, tail: int | None, streams: set[str],
                   running: Callable[[], bool], since_ns: int = 0, until_ns: int = 0,
                   poll: float = 0.05) -> AsyncIterator[list[LogEntry]]:
    """Yield the entries of the wanted ``streams`` in batches (a block's worth, never empty); with
    ``follow``, keep going until the container stops. ``since_ns``/``until_ns``: bounds in
    nanoseconds since the epoch, inclusive (0: none)."""
    fmt = FORMATS[source.driver]
    window = _Window(streams, since_ns, until_ns)
    current = await asyncio.to_thread(_open, source.path)
    if current is None:
        return
    try:
        if tail is not None and tail >= 0:
            records, _ = await asyncio.to_thread(_tail, source, fmt, current, tail)
            if batch := window.take(records, fmt):
                yield batch
            if not follow:
                return
        else:
            async for batch in _older(source, fmt, window):
                yield batch
        stop = None if follow else os.fstat(current.fileno()).st_size - current.tell()
        async for batch in _follow(source, fmt, window, current, stop, running, poll):
            yield batch
    finally:
        current.close()


async def _follow(source: LogSource, fmt, window: _Window, current: BinaryIO, stop: int | None,
                  running: Callable[[], bool], poll: float) -> AsyncIterator[list[LogEntry]]:
    """The rest of ``current`` (up to ``stop`` bytes); with no ``stop``, on across rotations until the end."""
    reader = _Forward(current, fmt, stop)
    try:
        while not window.ended:
            alive = running()  # sampled before reading, so the last lines after the exit are not lost
            batch = await asyncio.to_thread(_next_batch, reader, window)
            if batch is None:
                return
            if batch or reader.progressed:
                if batch:
                    yield batch
                continue
            if await asyncio.to_thread(_rotated_away, source.path, reader.f):
                newer = await asyncio.to_thread(_open, source.path)
                if newer is not None:  # finish the old file, then whatever came after it
                    reader.finish()
                    async for batch in _drain(reader, window):
                        yield batch
                    async for batch in _older(source, fmt, window):
                        yield batch
                    reader.f.close()
                    reader = _Forward(newer, fmt)
                    continue
            if not alive:
                return
            await asyncio.sleep(poll)
    finally:
        reader.f.close()
