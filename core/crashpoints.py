"""Crash points: named places where a test makes berthd kill itself, as ``kill -9`` would.

``BERTH_CRASH_AT=<point>`` (or ``<point>@N``: the N-th time the point is reached) in
berthd's environment arms one point; when the daemon gets there it sends itself
SIGKILL, so nothing runs after it — no ``finally``, no atexit, no flush. The crash
tests (``tests/integration/test_crash_points.py``) then start a fresh berthd on the
same data-root and check that start-up reconciliation left the store and the
containers consistent.

Unarmed (the variable unset, as in production), :func:`reached` is one dict lookup.
Every point is listed in :data:`POINTS`; an unknown name in the variable stops
berthd at start-up, so a typo cannot make a crash test pass without crashing.
"""

from __future__ import annotations

import os
import signal

#: Every crash point, with where it sits. Kept here so the tests can check each is armed somewhere.
POINTS: dict[str, str] = {
    "create.after_layers": "container create: the read-write layers exist, the record is not saved",
    "start.after_mount": "container start: the rootfs is mounted, no runtime container yet",
    "start.after_runtime": "container start: the runtime made the container (monitor, cgroups), no network yet",
    "start.after_join": "container start: networks joined and ports published, the process not started",
    "start.after_process": "container start: the process runs, the record still says it does not",
    "stop.after_signal": "container stop: the stop signal is sent, the exit not recorded",
    "rm.after_teardown": "container rm: marked removing, runtime and networks torn down, layers still there",
    "rm.after_layers": "container rm: layers removed, the record still there",
    "pull.between_blobs": "pull: one layer stored, the next not yet applied",
    "pull.mid_layer": "pull: a layer half extracted into the graph driver",
    "commit.after_layer": "commit: the new layer is stored, the image is not",
    "build.after_run": "build: a RUN step's container exited, its changes not committed",
    "build.mid_copy": "build: a COPY step's files are in its scratch layer, not committed",
    "connect.after_join": "network connect of a running container: the driver joined, the record not updated",
    "volume_rm.mid_remove": "volume rm: the volume is set aside for removal, its files not yet deleted",
}

ENV = "BERTH_CRASH_AT"


def _parse(value: str) -> dict[str, int]:
    """``name`` or ``name@N`` -> {name: N}; empty -> {}."""
    value = value.strip()
    if not value:
        return {}
    name, _, count = value.partition("@")
    return {name: int(count) if count.isdigit() and int(count) > 0 else 1}


_armed: dict[str, int] = _parse(os.environ.get(ENV, ""))


def check() -> str | None:
    """Why the environment's crash point is unusable (unknown name, bad count), or None."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    name, sep, count = value.partition("@")
    if name not in POINTS:
        return f"{ENV}={value!r}: no such crash point; known points: {', '.join(sorted(POINTS))}"
    if sep and not (count.isdigit() and int(count) > 0):
        return f"{ENV}={value!r}: the count after '@' must be a positive number"
    return None


def reached(name: str) -> None:
    """Die at once (SIGKILL) if ``name`` is the armed point and this is its N-th arrival."""
    if name in _armed:
        _armed[name] -= 1
        if _armed[name] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)
