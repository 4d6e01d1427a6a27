"""Timing of every driver call, without touching a driver.

Installed on each plugin manager through pluggy's hook-call monitoring, which
wraps every hook call (the driver's and the defaults'). Totals per hook are kept
for ``info`` and benchmarks; each call is logged at debug level.
"""

from __future__ import annotations

import time
from collections import defaultdict

import pluggy

from berth import log


class DriverCallStats:
    """Cumulative count and seconds per ``kind.hook``."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    def install(self, pm: pluggy.PluginManager, kind: str, driver: str) -> None:
        started: dict[int, float] = {}

        def before(hook_name, hook_impls, kwargs):
            started[id(kwargs)] = time.perf_counter()

        def after(outcome, hook_name, hook_impls, kwargs):
            began = started.pop(id(kwargs), None)
            if began is None:
                return
            elapsed = time.perf_counter() - began
            key = f"{kind}.{hook_name}"
            self.calls[key] += 1
            self.seconds[key] += elapsed
            log.get().debug("driver.call", hook=hook_name, driver=driver, duration_ms=round(elapsed * 1000, 2),
                            failed=outcome.exception is not None)

        pm.add_hookcall_monitoring(before, after)

    def summary(self) -> dict[str, dict[str, float]]:
        return {k: {"calls": self.calls[k], "seconds": round(self.seconds[k], 6)} for k in sorted(self.calls)}
