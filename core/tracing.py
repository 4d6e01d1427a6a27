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


class HookTimer:
    """A wrapper around every hook of one driver kind: the seconds of each call, per hook.

    This is the tracing extension the contracts allow (``wrapper=True`` hookimpls, which
    never answer a hook, only see it pass): register it in a driver's manager, next to
    the driver, and every call of a hook -- the driver's own, a core default's, or one
    made from inside another hook (the naive diff mounts through the facade) -- is
    timed, also when it raises. ``berth bench storage`` reads it per workload with
    :meth:`take`. Calls nest, so a hook's time includes the hooks it called.
    """

    def __init__(self, hooks: list[str]) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        for hook in hooks:
            setattr(self, hook, self._wrapper(hook))

    def _wrapper(self, hook: str):
        from berth import hookimpl

        samples = self.samples

        @hookimpl(wrapper=True)
        def timed():
            began = time.perf_counter()
            try:
                return (yield)
            finally:
                samples[hook].append(time.perf_counter() - began)

        timed.__name__ = hook
        return timed

    def take(self) -> dict[str, list[float]]:
        """The calls timed since the last take, per hook (and forget them)."""
        taken = {hook: list(times) for hook, times in self.samples.items() if times}
        self.samples.clear()
        return taken
