"""Reading a container's json-file log: tail, since/until, follow."""

from __future__ import annotations

import asyncio
import os
from typing import AsyncIterator, Callable

from berth.containers.jsonlog import LogEntry, parse_line, parse_timestamp


def _tail_lines(path: str, tail: int | None) -> tuple[list[bytes], int]:
    """The last ``tail`` complete lines (all when None) and the offset after them."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return [], 0
    end = data.rfind(b"\n") + 1  # a torn last line is left for follow to pick up
    lines = data[:end].splitlines()
    if tail is not None:
        lines = lines[-tail:] if tail > 0 else []
    return lines, end


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

    lines, offset = await asyncio.to_thread(_tail_lines, path, tail)
    for line in lines:
        entry = parse_line(line)
        if wanted(entry):
            yield entry
    if not follow:
        return
    partial = b""
    while True:
        alive = running()  # sample before reading so the last lines after exit are not lost
        try:
            size = os.path.getsize(path)
        except FileNotFoundError:
            return
        if size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read(size - offset)
            offset = size
            *complete, partial_new = (partial + chunk).split(b"\n")
            partial = partial_new
            for line in complete:
                entry = parse_line(line)
                if wanted(entry):
                    yield entry
            continue
        if not alive:
            return
        await asyncio.sleep(poll)
