"""structlog set-up: one event per job, with ids, driver and duration.

``job()`` is the one way engine code reports work::

    with job("container.start", container_id=cid, driver=exec.name) as ev:
        ...
        ev["exit_code"] = 0

emits a single event when the block ends, with ``duration_ms`` and, on failure,
the error. Logs go to stderr as key=value lines (JSON with BERTH_LOG_FORMAT=json).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from typing import Any, Iterator

import structlog

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "warning": logging.WARNING,
          "error": logging.ERROR, "fatal": logging.CRITICAL}


def configure(level: str = "info", stream=None) -> None:
    """Route structlog and stdlib logging (pluggy, aiohttp, drivers) to one stream."""
    lvl = LEVELS.get(level.lower())
    if lvl is None:
        raise ValueError(f"unknown log level {level!r}; choose one of {', '.join(LEVELS)}")
    renderer = (structlog.processors.JSONRenderer() if os.environ.get("BERTH_LOG_FORMAT") == "json"
                else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(stream or sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(lvl, logging.INFO) if lvl > logging.DEBUG else lvl, stream=stream or sys.stderr,
                        format="%(asctime)s [%(levelname)s] %(name)s: %(message)s")


def get(name: str = "berth") -> Any:
    return structlog.get_logger(name)


@contextlib.contextmanager
def job(event: str, **fields: Any) -> Iterator[dict[str, Any]]:
    """Time a unit of work and log it once, with whatever the block adds to the yielded dict."""
    started = time.monotonic()
    extra: dict[str, Any] = {}
    try:
        yield extra
    except BaseException as exc:
        get().warning(event, **fields, **extra, duration_ms=round((time.monotonic() - started) * 1000, 1),
                      error=f"{type(exc).__name__}: {exc}")
        raise
    get().info(event, **fields, **extra, duration_ms=round((time.monotonic() - started) * 1000, 1))


class Laps:
    """Consecutive phases of one job, as ``<phase>_ms`` fields of its event (``bench/bridge.py`` reads them).

    ``laps.mark("mount")`` records the time since the previous mark (or since the
    ``Laps`` was made) under ``mount_ms``; a phase marked twice adds up.
    """

    def __init__(self, fields: dict[str, Any] | None = None):
        self.fields = fields if fields is not None else {}
        self._last = time.monotonic()

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        key = f"{phase}_ms"
        self.fields[key] = round(self.fields.get(key, 0.0) + (now - self._last) * 1000, 1)
        self._last = now

    def into(self, fields: dict[str, Any]) -> None:
        """Go on recording into ``fields`` (a job's event that began later), with the phases so far."""
        fields.update(self.fields)
        self.fields = fields
