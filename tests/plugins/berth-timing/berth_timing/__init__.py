"""An example berth extension: the time of every driver call, appended to a CSV file.

It wraps every hook of every driver kind (graph, network, exec) with a new-style
pluggy wrapper, so one object spans the three managers; berth registers it in each
with the hooks of that manager's kind. Rows are ``time,kind,hook,seconds,outcome``
(``outcome`` is ``ok`` or the exception's class name), appended to the file named by
``$BERTH_TIMING_CSV``; without it the extension records nothing (installed, it is
loaded by every berthd, and must not write where nobody asked).

Declared in pyproject.toml as::

    [project.entry-points."berth.extensions"]
    timing = "berth_timing:TimingCSV"
"""

from __future__ import annotations

import importlib
import os
import threading
import time

from berth import hookimpl

#: the hookspec modules whose hooks are timed, by the prefix of their hook names
SPECS = {"graph_": "berth.hookspecs.graph", "net_": "berth.hookspecs.network", "exec_": "berth.hookspecs.execution"}
KINDS = {"graph_": "graph", "net_": "network", "exec_": "exec"}


class TimingCSV:
    """Appends one CSV row per driver call; several threads may call at once."""

    contract = "2.0"  # the berth driver contract this extension was written for
    description = "time of every driver call, one CSV row each ($BERTH_TIMING_CSV)"

    def __init__(self) -> None:
        self.path = os.environ.get("BERTH_TIMING_CSV", "")
        self.lock = threading.Lock()

    def record(self, hook: str, seconds: float, outcome: str) -> None:
        if not self.path:
            return
        kind = next(k for prefix, k in KINDS.items() if hook.startswith(prefix))
        row = f"{time.time():.6f},{kind},{hook},{seconds:.6f},{outcome}\n"
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(row)


def _timed(hook: str):
    """A wrapper of ``hook`` taking none of its arguments (pluggy passes a wrapper only those it names)."""

    def wrapper(self):
        started = time.perf_counter()
        try:
            result = yield  # the driver (or the core default) answers here
        except BaseException as exc:
            self.record(hook, time.perf_counter() - started, type(exc).__name__)
            raise
        self.record(hook, time.perf_counter() - started, "ok")
        return result

    wrapper.__name__ = wrapper.__qualname__ = hook
    return hookimpl(wrapper=True)(wrapper)


for _prefix, _module in SPECS.items():
    _spec = importlib.import_module(_module)
    for _name in dir(_spec):
        if _name.startswith(_prefix) and callable(getattr(_spec, _name)):
            setattr(TimingCSV, _name, _timed(_name))
