"""Docker's json-file log format: one JSON object per line.

``{"log":"hello\\n","stream":"stdout","time":"2026-11-29T05:37:09.123456789Z"}``, with
``"attrs":{...}`` before ``time`` when the container's ``labels``/``env``/``tag`` log
options add attributes (what ``docker logs --details`` shows).

The writer side (:class:`JsonFileFormat.encode`) runs in exec-driver monitors, outside
the daemon; the reader side in the daemon's logs endpoint. Both live here so the
format is defined once. The record framing used by the reader (:func:`split_records`,
:func:`last_records`) is what the ``local`` format (:mod:`berth.containers.locallog`)
provides too.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from json.decoder import scanstring  # the C scanner
from json.encoder import encode_basestring  # the C encoder: escapes only what JSON needs, keeps UTF-8

NAME = "json-file"


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds in UTC, as Docker writes it."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def parse_timestamp(text: str) -> float:
    """Seconds since the epoch from a Docker RFC 3339 timestamp (nanoseconds allowed)."""
    import calendar

    head, _, frac = text.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return secs + (int(frac[:9].ljust(9, "0")) / 1e9 if frac else 0.0)


def _go_fraction(frac: int) -> str:
    return f".{frac:09d}".rstrip("0") if frac else ""


def go_time_json(ns: int) -> str:
    """A UTC time as Go marshals ``time.Time`` to JSON (RFC 3339, the fraction's trailing zeros cut)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + _go_fraction(frac) + "Z"


def go_time_string(ns: int) -> str:
    """A UTC time as Go's ``time.Time.String()`` prints it: ``2026-12-06 21:50:22.890912231 +0000 UTC``."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)) + _go_fraction(frac) + " +0000 UTC"


_SECONDS_CACHE: dict[str, int] = {}


def timestamp_ns(text: str) -> int:
    """Nanoseconds since the epoch from a log entry's time (RFC 3339 in UTC, as Docker and berth write it).

    Strict and fast (the per-second part is cached): raises ValueError for anything else.
    """
    import calendar

    if len(text) < 20 or text[-1] != "Z" or text[4] != "-" or text[10] != "T" or text[19] not in ".Z":
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    head = text[:19]
    secs = _SECONDS_CACHE.get(head)
    if secs is None:
        secs = calendar.timegm(time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
        if len(_SECONDS_CACHE) > 4096:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[head] = secs
    frac = text[20:-1]
    if len(frac) > 9 or (frac and not frac.isdigit()) or (text[19] == "." and not frac):
        raise ValueError(f"not an RFC 3339 UTC time: {text!r}")
    return secs * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


class TimestampCache:
    """:func:`timestamp` for a stream of nanosecond times, formatting each second only once (the hot path)."""

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def format(self, ns: int) -> str:
        secs, frac = divmod(ns, 1_000_000_000)
        if secs != self.second:
            self.second = secs
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(secs))
        return f"{self.prefix}{frac:09d}Z"


@dataclass
class LogEntry:
    """One logged message: ``data`` as the container wrote it (a line with its newline, or a partial line).

    ``ns``: when it was read, in nanoseconds since the epoch; ``attrs``: the json-file
    driver's extra attributes (labels, env, tag), shown by ``logs --details``.
    """

    stream: str
    data: bytes
    ns: int
    attrs: dict[str, str] | None = None

    @property
    def time(self) -> str:
        """The time as ``docker logs --timestamps`` prints it (RFC 3339, nine fraction digits)."""
        return timestamp(self.ns)


class JsonFileFormat:
    """Encodes entries as json-file lines; ``attrs`` (labels/env/tag) are written into every line."""

    name = NAME

    def __init__(self, attrs: dict[str, str] | None = None):
        self.times = TimestampCache()
        # Go marshals a map with sorted keys; the fragment is the same for every line, so build it once
        self.attrs = (',"attrs":' + json.dumps(dict(sorted(attrs.items())), ensure_ascii=False,
                                               separators=(",", ":"))) if attrs else ""

    def encode(self, stream: str, data: bytes, ns: int) -> bytes:
        text = encode_basestring(data.decode("utf-8", "replace"))
        return f'{{"log":{text},"stream":"{stream}"{self.attrs},"time":"{self.times.format(ns)}"}}\n'.encode()


# -- reading ------------------------------------------------------------------


# Lines as Docker and berth write them: the log string first, then stream, attrs, time. Reading
# them without building a dict is ~4x faster than json.loads; anything else takes the slow path.
_TAIL = re.compile(r',"stream":"(stdout|stderr)"(?:,"attrs":(\{.*\}))?,"time":"([^"\\]*)"\}')


def _fields(line: bytes) -> tuple[object, object, object, object] | None:
    """(stream, log, time, attrs) of a line, or None when it is not JSON at all."""
    try:
        text = line.decode()
        if text.startswith('{"log":"'):
            data, end = scanstring(text, 8)
            match = _TAIL.fullmatch(text, end)
            if match:
                return match.group(1), data, match.group(3), json.loads(match.group(2)) if match.group(2) else None
        record = json.loads(text)
    except ValueError:  # UnicodeDecodeError included
        return None
    if not isinstance(record, dict):
        return None
    return record.get("stream"), record.get("log"), record.get("time"), record.get("attrs")


def decode(line: bytes) -> LogEntry | None:
    """One json-file line, or None for a torn/corrupt line (a crash mid-write loses only it)."""
    fields = _fields(line)
    if fields is None:
        return None
    stream, data, when, attrs = fields
    # A line edited by hand or damaged on disk may hold any JSON: skip it rather than fail the whole read.
    if not (isinstance(stream, str) and isinstance(data, str) and isinstance(when, str)):
        return None
    try:
        ns = timestamp_ns(when)
    except (ValueError, OverflowError):
        return None
    if not isinstance(attrs, dict) or not all(isinstance(v, str) for v in attrs.values()):
        attrs = None
    return LogEntry(stream, data.encode("utf-8", "replace"), ns, attrs)


def split_records(buf: bytes) -> tuple[list[bytes], int]:
    """The complete lines at the start of ``buf`` (without their newlines) and how many bytes they span."""
    end = buf.rfind(b"\n") + 1
    return (buf[:end - 1].split(b"\n") if end else []), end


def last_records(f, end: int, count: int, block: int) -> tuple[list[bytes], int]:
    """The last ``count`` complete lines of open file ``f`` before offset ``end``, read backwards in blocks.

    Also returns the offset just after the last complete line: a torn last line is left for follow.
    """
    data = b""
    pos = end
    while pos > 0 and data.count(b"\n") <= count:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        data = f.read(step) + data
    cut = data.rfind(b"\n") + 1
    lines = data[:cut].splitlines()
    return (lines[-count:] if count > 0 else []), pos + cut


def repair_tail(fd: int) -> None:
    """End a torn last line (a crash mid-write) so the next writer's first line is not glued to it."""
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        os.write(fd, b"\n")
