"""A container with ``--init`` is started once its init takes SIGTERM: a pid-namespace init drops the
signals it does not handle, so a stop sent between tini's execve and its sigprocmask was lost (CI saw
``kill`` right after ``start`` never reach the process)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from berth.plugins.execdrivers import initbinary

SLOW_INIT = ("import signal, time; time.sleep({delay}); "
             "signal.pthread_sigmask(signal.SIG_BLOCK, {{signal.SIGTERM}}); time.sleep(30)")


def _fake_init(delay: float) -> subprocess.Popen:
    """A process named as the mounted init that blocks SIGTERM only after ``delay`` seconds, as tini does."""
    return subprocess.Popen(["bash", "-c", f'exec -a {initbinary.IN_CONTAINER_PATH} "$0" -c "$1"', sys.executable,
                             SLOW_INIT.format(delay=delay)])


def test_the_wait_ends_once_the_init_blocks_sigterm_and_a_signal_then_is_held():
    init = _fake_init(0.3)
    try:
        began = time.monotonic()
        initbinary.await_signal_handling(init.pid, timeout=10)
        assert time.monotonic() - began >= 0.3
        init.send_signal(signal.SIGTERM)
        time.sleep(0.1)
        assert init.poll() is None  # held pending, not acted on or dropped
    finally:
        init.kill()
        init.wait()


def test_a_process_that_is_not_the_init_is_waited_for_until_the_timeout():
    began = time.monotonic()
    with subprocess.Popen(["sleep", "5"]) as other:
        initbinary.await_signal_handling(other.pid, timeout=0.2)
        other.kill()
    assert 0.2 <= time.monotonic() - began < 2


def test_a_process_that_is_gone_ends_the_wait_at_once():
    gone = subprocess.Popen(["true"])
    gone.wait()
    began = time.monotonic()
    initbinary.await_signal_handling(gone.pid, timeout=5)
    assert time.monotonic() - began < 1
