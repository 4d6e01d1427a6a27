"""Healthchecks, run as dockerd runs them (moby ``daemon/health.go``).

A container whose ``Config.Healthcheck`` names a command (``["CMD", ...]`` or
``["CMD-SHELL", "..."]``) gets a probe: an exec inside the container, run first one
interval after the start, then one interval after the previous probe ended (during
the start period, while still ``starting``, every start interval instead). A probe
that outlives its timeout is killed and counts as a failure. ``State.Health`` keeps
Docker's shape: ``Status`` (starting, healthy, unhealthy), ``FailingStreak`` and the
last five results. Zero durations mean Docker's defaults.

The pieces, each testable alone: :func:`validate` and :func:`merge` (create time),
:class:`Probe` (what to run and when), :func:`record` (the state machine),
:func:`next_delay` (the schedule) and :class:`HealthMonitor`, one asyncio task per
probing container. The monitor runs while the container runs and is not paused;
stopping it marks the container unhealthy, as Docker does "for compatibility".
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from berth import log
from berth.containers.jsonlog import timestamp
from berth.containers.model import Container, parse_time
from berth.errors import BerthError, InvalidArgument

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096  # bytes of a probe's output kept; more is cut and marked with "..."
MAX_LOG = 5  # results kept in State.Health.Log
MINIMUM_NS = 1_000_000  # Docker's MinimumDuration (1ms) for every non-zero duration

#: Config.Healthcheck duration fields (nanoseconds), in the order Docker validates them
DURATIONS = ("Interval", "Timeout", "StartPeriod", "StartInterval")
NS = 1_000_000_000


# -- create time ------------------------------------------------------------------------------

def validate(hc: Any) -> None:
    """Refuse a ``Config.Healthcheck`` Docker would refuse (types first, then Docker's own messages)."""
    if hc is None:
        return
    if not isinstance(hc, dict):
        raise InvalidArgument("invalid container config: Healthcheck must be an object")
    test = hc.get("Test")
    if test is not None and (not isinstance(test, list) or not all(isinstance(t, str) for t in test)):
        raise InvalidArgument("invalid container config: Healthcheck.Test must be a list of strings")
    for key in (*DURATIONS, "Retries"):
        value = hc.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise InvalidArgument(f"invalid container config: Healthcheck.{key} must be a whole number"
                                  + (" of nanoseconds" if key != "Retries" else ""))
    for key in DURATIONS[:2]:
        if 0 != (hc.get(key) or 0) < MINIMUM_NS:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if (hc.get("Retries") or 0) < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    for key in DURATIONS[2:]:
        if 0 != (hc.get(key) or 0) < MINIMUM_NS:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")


def merge(user: dict[str, Any] | None, image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The container's Healthcheck: the request's, each empty field taken from the image's (Docker's merge).

    ``None`` (no key) inherits the image's whole check; ``["NONE"]`` disables it. The
    result has Docker's JSON shape: empty and zero fields left out.
    """
    if user is None:
        return compact(image) if image is not None else None
    merged = dict(user)
    for key in ("Test", *DURATIONS, "Retries"):
        if not merged.get(key) and image:
            merged[key] = image.get(key)
    return compact(merged)


def compact(hc: dict[str, Any]) -> dict[str, Any]:
    """Docker's ``omitempty``: a Healthcheck without its empty and zero fields."""
    return {k: v for k in ("Test", *DURATIONS, "Retries") if (v := hc.get(k))}


# -- what to run, when ------------------------------------------------------------------------

@dataclass(frozen=True)
class Probe:
    """A container's probe with Docker's defaults applied (durations in seconds)."""

    argv: tuple[str, ...]  # empty for ["CMD"] alone: every run then fails, as in Docker
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = DEFAULT_START_PERIOD
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    @classmethod
    def of(cls, c: Container) -> "Probe | None":
        """The probe of ``c``, or None when it has none (no Test, ``NONE``, or a type Docker ignores)."""
        hc = c.config.get("Healthcheck") or {}
        test = hc.get("Test") or []
        if not test or test[0] == "NONE":
            return None
        if test[0] == "CMD":
            argv = tuple(test[1:])
        elif test[0] == "CMD-SHELL":
            argv = (*(c.config.get("Shell") or ("/bin/sh", "-c")), *test[1:]) if test[1:] else ()
        else:
            log.get().warning("health.unknown_type", container_id=c.short_id, type=test[0])
            return None

        def seconds(key: str, default: float) -> float:
            return hc[key] / NS if hc.get(key) else default

        return cls(argv, seconds("Interval", DEFAULT_INTERVAL), seconds("Timeout", DEFAULT_TIMEOUT),
                   seconds("StartPeriod", DEFAULT_START_PERIOD), seconds("StartInterval", DEFAULT_START_INTERVAL),
                   hc.get("Retries") or DEFAULT_RETRIES)


def next_delay(probe: Probe, since_start: float, status: str) -> float:
    """Seconds until the next probe: the start interval while starting within the start period, else the interval."""
    if since_start < probe.start_period and status == STARTING:
        return probe.start_interval
    return probe.interval


# -- results and the state machine ----------------------------------------------------------

@dataclass
class ProbeResult:
    start: float  # unix seconds
    end: float
    exit_code: int  # 0 healthy; anything else (-1: the probe could not run or timed out) a failure
    output: str

    def to_api(self) -> dict[str, Any]:
        return {"Start": rfc3339_nano(self.start), "End": rfc3339_nano(self.end), "ExitCode": self.exit_code,
                "Output": self.output}


def rfc3339_nano(seconds: float) -> str:
    """Go's RFC3339Nano (trailing zeros of the fraction dropped), as Docker writes probe times.

    A float holds microseconds faithfully, not nanoseconds: digits below that would be noise.
    """
    text = timestamp(round(seconds * 1_000_000) * 1000)
    head, _, frac = text[:-1].partition(".")
    frac = frac.rstrip("0")
    return f"{head}.{frac}Z" if frac else f"{head}Z"


def new_state() -> dict[str, Any]:
    """``State.Health`` of a container that has just started."""
    return {"Status": STARTING, "FailingStreak": 0, "Log": []}


def record(health: dict[str, Any], result: ProbeResult, probe: Probe, started_at: float) -> str:
    """Apply one probe result to ``State.Health`` (Docker's ``handleProbeResult``); return the new status.

    A success makes the container healthy and clears the streak. A failure counts
    towards ``retries`` unless the container is still starting and the probe began
    within the start period.
    """
    health["Log"] = [*(health.get("Log") or []), result.to_api()][-MAX_LOG:]
    if result.exit_code == 0:
        health["FailingStreak"] = 0
        health["Status"] = HEALTHY
        return HEALTHY
    if health["Status"] == STARTING and result.start - started_at < probe.start_period:
        return STARTING
    health["FailingStreak"] = health.get("FailingStreak", 0) + 1
    if health["FailingStreak"] >= probe.retries:
        health["Status"] = UNHEALTHY
    return health["Status"]


def limit_output(data: bytes) -> str:
    """The first 4096 bytes of a probe's output, "..." appended when there was more (Docker's limitedBuffer)."""
    text = data[:MAX_OUTPUT].decode("utf-8", "replace")
    return text + "..." if len(data) > MAX_OUTPUT else text


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration`` text for the timeout message: ``30s``, ``1.5s``, ``500ms``, ``1m30s``."""
    ns = round(seconds * NS)
    if ns < NS:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size or unit == "ns":
                return f"{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3600 * NS)
    minutes, rest = divmod(rest, 60 * NS)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if hours or minutes else ""
    return text + f"{_trim(rest / NS)}s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


# -- the monitor ----------------------------------------------------------------------------

#: runs ``argv`` in the container with a timeout: (exit code, output); raises BerthError when it cannot run
RunProbe = Callable[[Container, "tuple[str, ...]", float], Awaitable["tuple[int, str]"]]
#: told each status change (to persist it and publish ``health_status: <status>``)
StatusChanged = Callable[[Container, str], None]


class HealthMonitor:
    """One probing task per container that runs, is not paused and has a probe."""

    def __init__(self, run_probe: RunProbe | None, on_change: StatusChanged,
                 clock: Callable[[], float] = time.time, sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep):
        self.run_probe = run_probe
        self.on_change = on_change
        self.clock = clock
        self.sleep = sleep
        self.tasks: dict[str, asyncio.Task] = {}

    def start(self, c: Container) -> None:
        """The container (re)started or was re-adopted: health starts over (the log is kept) and probing begins."""
        if Probe.of(c) is None:
            return
        self.stop(c)
        c.state.health = {**new_state(), "Log": list((c.state.health or {}).get("Log") or [])}
        self.resume(c)

    def resume(self, c: Container) -> None:
        """Probe again after a pause (the status stays what the pause made it until the next result)."""
        probe = Probe.of(c)
        if probe is None or c.state.health is None or c.id in self.tasks:
            return
        self.tasks[c.id] = asyncio.get_running_loop().create_task(self._run(c, probe), name=f"health-{c.short_id}")

    def stop(self, c: Container) -> None:
        """Stop probing (exit, pause, removal); a container whose probing stops is unhealthy, as in Docker."""
        task = self.tasks.pop(c.id, None)
        if task is not None:
            task.cancel()
            if c.state.health is not None:
                c.state.health["Status"] = UNHEALTHY

    async def _run(self, c: Container, probe: Probe) -> None:
        started_at = parse_time(c.state.started_at)
        try:
            while True:
                await self.sleep(next_delay(probe, self.clock() - started_at, c.state.health["Status"]))
                result = await self._probe_once(c, probe)
                if self.tasks.get(c.id) is not asyncio.current_task():
                    return  # stopped while the result was on its way: Docker drops it too
                before = c.state.health["Status"]
                after = record(c.state.health, result, probe, started_at)
                if after != before:
                    self.on_change(c, after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not go unnoticed, nor take the daemon down
            log.get().error("health.monitor_failed", container_id=c.short_id, error=repr(exc))
            self.tasks.pop(c.id, None)

    async def _probe_once(self, c: Container, probe: Probe) -> ProbeResult:
        start = self.clock()
        if not probe.argv:
            code, output = -1, f"healthcheck for container {c.id} has no command"
        else:
            try:
                code, output = await self.run_probe(c, probe.argv, probe.timeout)
            except BerthError as exc:
                code, output = -1, exc.message
        end = self.clock()
        # debug: a probe every few seconds per container would drown the info log
        log.get().debug("health.probe", container_id=c.short_id, exit_code=code,
                        duration_ms=round((end - start) * 1000, 1))
        return ProbeResult(start, end, code, output)
