"""Reading a container's json-file log: tail, since/until, follow — in bounded memory.

``--tail N`` reads the file backwards in blocks until it has N lines; everything
else streams forwards in blocks, so a multi-gigabyte log costs no more memory
than a small one.
"""

from __future__ import annotations

import asyncio
import os
from typing import AsyncIterator, Callable

from berth.containers.jsonlog import LogEntry, parse_line, parse_timestamp

_BLOCK = 1 << 20


def _tail_lines(path: str, tail: int) -> tuple[list[bytes], int]:
    """The last ``tail`` complete lines and the offset just after them (a torn last line is left to follow)."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return [], 0
    with f:
        end = f.seek(0, os.SEEK_END)
        data = b""
        pos = end
        while pos > 0 and data.count(b"\n") <= tail:
            step = min(_BLOCK, pos)
            pos -= step
            f.seek(pos)
            data = f.read(step) + data
    cut = data.rfind(b"\n") + 1
    end = pos + cut
    lines = data[:cut].splitlines()
    return (lines[-tail:] if tail > 0 else []), end


def _read_block(path: str, offset: int) -> bytes | None:
    """Up to one block from ``offset``; None when the log is gone (the container was removed)."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(_BLOCK)
    except FileNotFoundError:
        return None


async def read_log(path: str, *, follow: bool, tail: int | None, since: float, until: float,
                   streams: set[str], running: Callable[[], bool], poll: float = 0.05) -> AsyncIterator[LogEntry]:
    """Yield entries of the wanted ``streams``; with ``follow``, keep going until the container stops."""

    def wanted(entry: LogEntry | None) -> bool:
        if entry is None or entry.stream not in streams:
            return False
        if since or until:
            t = parse_timestamp(entry.time)
            return (not since or t >= since) and (not until or t <= until)
        return True

    offset = 0
    if tail is not None and tail >= 0:
        lines, offset = await asyncio.to_thread(_tail_lines, path, tail)
        for line in lines:
            entry = parse_line(line)
            if wanted(entry):
                yield entry
        if not follow:
            return
    try:
        stop_at = None if follow else os.path.getsize(path)  # without follow: what was there when asked
    except FileNotFoundError:
        return
    partial = b""
    while stop_at is None or offset < stop_at:
        alive = running()  # sample before reading so the last lines after exit are not lost
        chunk = await asyncio.to_thread(_read_block, path, offset)
        if chunk is None:
            return
        if stop_at is not None:
            chunk = chunk[: stop_at - offset]
        if chunk:
            offset += len(chunk)
            *complete, partial = (partial + chunk).split(b"\n")
            for line in complete:
                entry = parse_line(line)
                if wanted(entry):
                    yield entry
            continue
        if not alive:
            return
        await asyncio.sleep(poll)
