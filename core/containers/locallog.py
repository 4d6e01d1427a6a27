"""berth's on-disk format for Docker's ``local`` log driver: compact binary records.

Docker's ``local`` driver stores length-prefixed protobuf records; berth keeps the
idea (a length before and after every record, so the file reads backwards for
``--tail`` as well as forwards) with a fixed header instead of protobuf::

    u32 length | u64 time (ns since the epoch) | u8 flags | data (length bytes) | u32 length

all big-endian; flag bit 0 is set for stderr. ``data`` is what the container wrote
(a line with its newline, or a partial line), so ``logs`` gives it back byte for
byte. The overhead is 17 bytes a record, against ~70 for a json-file line.
"""

from __future__ import annotations

import os
import struct

from berth.containers.jsonlog import LogEntry

NAME = "local"
FILE_NAME = "container.log"  # in <container dir>/local-logs/, as Docker names it

_HEAD = struct.Struct(">IQB")
_TAIL = struct.Struct(">I")
OVERHEAD = _HEAD.size + _TAIL.size
_STDERR = 1
_MAX_RECORD = 1 << 24  # nothing the writer produces is near this: a larger length means damage


class LocalFormat:
    """Encodes entries as ``local`` records."""

    name = NAME

    def encode(self, stream: str, data: bytes, ns: int) -> bytes:
        flags = _STDERR if stream == "stderr" else 0
        return _HEAD.pack(len(data), ns, flags) + data + _TAIL.pack(len(data))


def decode(record: bytes) -> LogEntry | None:
    """One complete record (as :func:`split_records` cuts them), or None when it is damaged."""
    if len(record) < OVERHEAD:
        return None
    length, ns, flags = _HEAD.unpack_from(record)
    if length != len(record) - OVERHEAD or _TAIL.unpack_from(record, len(record) - _TAIL.size)[0] != length:
        return None
    data = record[_HEAD.size:_HEAD.size + length]
    return LogEntry("stderr" if flags & _STDERR else "stdout", data, ns)


def split_records(buf: bytes) -> tuple[list[bytes], int]:
    """The complete records at the start of ``buf`` and how many bytes they span.

    A damaged length ends the walk at that point: what follows cannot be framed
    (writers repair a damaged end before appending, see :func:`repair_tail`).
    """
    records, pos = [], 0
    while len(buf) - pos >= OVERHEAD:
        length = _HEAD.unpack_from(buf, pos)[0]
        if length > _MAX_RECORD:
            break
        end = pos + length + OVERHEAD
        if end > len(buf):
            break
        records.append(buf[pos:end])
        pos = end
    return records, pos


def last_records(f, end: int, count: int, block: int) -> tuple[list[bytes], int]:
    """The last ``count`` records of open file ``f`` before offset ``end``, walking the trailing lengths back.

    Also returns the offset just after the last whole record. When ``end`` is not on a
    record boundary (a record being written, or a torn one), the file is walked forwards.
    """
    records: list[bytes] = []
    pos = end
    while pos >= OVERHEAD and len(records) < count:
        f.seek(pos - _TAIL.size)
        length = _TAIL.unpack(f.read(_TAIL.size))[0]
        start = pos - length - OVERHEAD
        if length > _MAX_RECORD or start < 0:
            break
        f.seek(start)
        record = f.read(length + OVERHEAD)
        if decode(record) is None:
            break
        records.append(record)
        pos = start
    if pos == end and end > 0 and count > 0:
        return _last_records_forwards(f, end, count, block)
    records.reverse()
    return records, end


def _last_records_forwards(f, end: int, count: int, block: int) -> tuple[list[bytes], int]:
    import collections

    kept: collections.deque[bytes] = collections.deque(maxlen=count)
    pos, pending = 0, b""
    f.seek(0)
    while pos < end:
        chunk = f.read(min(block, end - pos))
        if not chunk:
            break
        pos += len(chunk)
        records, used = split_records(pending + chunk)
        kept.extend(records)
        pending = (pending + chunk)[used:]
    return list(kept), end - len(pending)


def _valid_end(fd: int, size: int) -> bool:
    """True when the file ends on a record boundary (the last record's two lengths agree)."""
    if size == 0:
        return True
    if size < OVERHEAD:
        return False
    length = _TAIL.unpack(os.pread(fd, _TAIL.size, size - _TAIL.size))[0]
    start = size - length - OVERHEAD
    return 0 <= start and length <= _MAX_RECORD and _HEAD.unpack(os.pread(fd, _HEAD.size, start))[0] == length


def repair_tail(fd: int) -> None:
    """Cut a torn last record (a crash mid-write), so records appended after it can be framed."""
    size = os.fstat(fd).st_size
    if _valid_end(fd, size):
        return
    good, pos = 0, 0
    while True:  # rare (only after a crash): walk forwards to the last whole record
        head = os.pread(fd, _HEAD.size, pos)
        if len(head) < _HEAD.size:
            break
        end = pos + _HEAD.unpack(head)[0] + OVERHEAD
        if end > size or not _valid_end(fd, end):
            break
        good = pos = end
    os.ftruncate(fd, good)
