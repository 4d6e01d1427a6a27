"""Crash-test helpers: a berthd made to kill itself at a crash point and started again, and the checks after.

:func:`crash_daemon` runs a berthd on overlay (so a leaked mount shows) with busybox; :func:`crash_at`
arms a point (``BERTH_CRASH_AT``, see ``berth.crashpoints``), runs one CLI operation until berthd kills
itself and starts a fresh one on the same data-root; :func:`assert_nothing_left` removes everything and
scans the host (``tests/leakscan.py``).
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import tempfile

from berth import crashpoints
from tests import leakscan
from tests.conftest import Daemon, _unmount_all

DRIVER = "overlay"


@contextlib.contextmanager
def crash_daemon(suite_tmp: str, netns: str | None = None):
    base = tempfile.mkdtemp(prefix="crash-", dir=suite_tmp)
    d = Daemon(base, ["-s", DRIVER, *(["--bip", "10.232.0.1/24"] if netns else [])], netns=netns)
    try:
        d.start()
        assert d.cli("image", "bootstrap", "busybox").returncode == 0, d.log()
        yield d
    finally:
        d.env = None
        if d.proc is None or d.proc.poll() is not None:
            d.start()
        d.remove_everything()
        d.stop()
        _unmount_all(base)


def crash_at(d: Daemon, point: str, *operation: str, input: bytes | None = None) -> set[str]:
    """Restart ``d`` armed at ``point``, run the CLI ``operation`` until berthd kills itself, start it again.

    Returns the ids of every container the crashed daemon had made (for the leak scan).
    """
    assert point in crashpoints.POINTS
    d.stop()
    d.env = {crashpoints.ENV: point}
    d.start()
    result = d.cli(*operation, input=input)
    assert d.proc.wait(30) == -signal.SIGKILL, f"berthd did not crash at {point}: {result.stderr.decode()}\n{d.log()}"
    d.logfile.close()
    assert result.returncode != 0  # the client saw the connection drop
    ids = leakscan.container_ids(d.data_root, d.exec_root)
    d.env = None
    d.start()
    return ids


def state_of(d: Daemon, ref: str) -> dict:
    result = d.cli("inspect", ref)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)[0]["State"]


def assert_store_consistent(d: Daemon) -> None:
    assert leakscan.store_problems(d.data_root, DRIVER) == []


def assert_nothing_left(d: Daemon, ids: set[str]) -> None:
    """Remove every container and volume, then nothing may be held for any container the daemon made."""
    d.remove_everything()
    d.cli("volume", "prune", "-af")
    ids |= leakscan.container_ids(d.data_root, d.exec_root)
    assert leakscan.runtime_leftovers(d.base, d.exec_root, ids, netns=d.netns) == []
    assert_store_consistent(d)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()
