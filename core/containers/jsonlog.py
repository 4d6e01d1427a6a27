"""Docker's json-file log format: one JSON object per line.

``{"log": "hello\\n", "stream": "stdout", "time": "2026-11-29T05:37:09.123456789Z"}``

The writer is used by exec-driver monitors (outside the daemon), the reader by
the daemon's logs endpoint; both live here so the format is defined once.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass


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


class JsonLogWriter:
    """Appends stream chunks as json-file lines, splitting at newlines like Docker."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self.partial = {"stdout": b"", "stderr": b""}

    def write(self, stream: str, data: bytes) -> None:
        buf = self.partial.get(stream, b"") + data
        *lines, rest = buf.split(b"\n")
        out = [self._line(stream, line + b"\n") for line in lines]
        # Docker flushes a partial line once it reaches 16 KiB; keep memory bounded the same way.
        if len(rest) >= 16384:
            out.append(self._line(stream, rest))
            rest = b""
        self.partial[stream] = rest
        if out:
            os.write(self.fd, b"".join(out))

    def flush(self) -> None:
        """Write out partial lines (at container exit)."""
        out = [self._line(s, data) for s, data in self.partial.items() if data]
        self.partial = {"stdout": b"", "stderr": b""}
        if out:
            os.write(self.fd, b"".join(out))

    def close(self) -> None:
        self.flush()
        os.close(self.fd)

    @staticmethod
    def _line(stream: str, data: bytes) -> bytes:
        record = {"log": data.decode("utf-8", "replace"), "stream": stream, "time": timestamp()}
        return json.dumps(record, ensure_ascii=False).encode() + b"\n"


@dataclass
class LogEntry:
    stream: str
    data: bytes
    time: str


def parse_line(line: bytes) -> LogEntry | None:
    """One json-file line, or None for a torn/corrupt line (a crash mid-write loses only it)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict):
        return None
    stream, data, when = record.get("stream"), record.get("log"), record.get("time")
    # A line edited by hand or damaged on disk may hold any JSON: skip it rather than fail the whole read.
    if not (isinstance(stream, str) and isinstance(data, str) and isinstance(when, str)):
        return None
    try:
        parse_timestamp(when)  # since/until filtering parses it later; a bad time makes the line unusable
    except (ValueError, OverflowError):
        return None
    return LogEntry(stream, data.encode("utf-8", "replace"), when)
