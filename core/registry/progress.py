"""Docker's JSON progress messages (``pkg/jsonmessage``), as sent on the pull and push streams.

Each message is one JSON object per line: ``{"status": "Downloading",
"progressDetail": {"current": n, "total": m}, "progress": "[==>   ]  1.2MB/3.4MB",
"id": "<12 hex of the layer digest>"}``; a failure is ``{"errorDetail": {"message": m},
"error": m}``. A :class:`Progress` collects messages into a queue the API handler
drains, and throttles byte counts so a fast local copy does not flood the client.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from berth import humanize

BAR_WIDTH = 50


def human_size(size: float) -> str:
    """go-units ``HumanSize``: decimal units, 4 significant digits (``1.234MB``)."""
    return humanize.size(size, 4)


def bar(current: int, total: int) -> str:
    """The ``progress`` text Docker puts next to ``progressDetail`` (terminal width above 110)."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    filled = min(BAR_WIDTH, int(current / total * 100) // 2)
    box = "[" + "=" * filled + ">" + " " * (BAR_WIDTH - filled) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}" if current <= total else f"{human_size(current):>8}"
    return box + numbers


def short_id(digest: str) -> str:
    """Docker's layer id in progress lines: the first 12 hex digits of the digest."""
    return digest.split(":", 1)[-1][:12]


def message(status: str, id: str | None = None, current: int | None = None, total: int | None = None,
            detail: bool = True) -> dict[str, Any]:
    msg: dict[str, Any] = {"status": status}
    if detail:
        msg["progressDetail"] = {}
    if current is not None:
        msg["progressDetail"] = {"current": current, "total": total} if total else {"current": current}
        text = bar(current, total or 0)
        if text:
            msg["progress"] = text
    if id is not None:
        msg["id"] = id
    return msg


def error(text: str) -> dict[str, Any]:
    return {"errorDetail": {"message": text}, "error": text}


def encode(msg: dict[str, Any]) -> bytes:
    return json.dumps(msg, separators=(",", ":")).encode() + b"\r\n"


class Progress:
    """A sink for progress messages; ``None`` is queued at the end of the operation."""

    #: byte-count updates closer together than this are dropped (the last one is always sent)
    interval = 0.1

    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._last: dict[str, float] = {}
        self._sent: dict[str, int] = {}

    def status(self, status: str, id: str | None = None, detail: bool = True) -> None:
        self.queue.put_nowait(message(status, id, detail=detail))

    def bytes(self, status: str, id: str, current: int, total: int) -> None:
        now = time.monotonic()
        key = status + id
        if self._sent.get(key) == current:
            return  # nothing new (a decompressor re-reading the trailer)
        if current < total and now - self._last.get(key, 0.0) < self.interval:
            return
        self._last[key] = now
        self._sent[key] = current
        self.queue.put_nowait(message(status, id, current, total))

    def raw(self, msg: dict[str, Any]) -> None:
        self.queue.put_nowait(msg)

    def close(self) -> None:
        self.queue.put_nowait(None)


class NullProgress(Progress):
    """Progress nobody reads (``run`` pulling an image whose stream is logged instead)."""

    def __init__(self) -> None:
        super().__init__()

    def raw(self, msg: dict[str, Any]) -> None:
        pass

    def status(self, status: str, id: str | None = None, detail: bool = True) -> None:
        pass

    def bytes(self, status: str, id: str, current: int, total: int) -> None:
        pass

    def close(self) -> None:
        pass
