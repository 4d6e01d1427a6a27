"""``--init``: the container's pid 1 as a small reaping init (what tini does for Docker).

Used when the spec still carries the annotation ``io.berth.init`` = ``"true"`` at
start, i.e. when the host has no static tini for the driver to mount (see
``execdrivers/initbinary.py``, dockerd's way, which the driver prefers: this init
is the monitor's interpreter, and ``top`` shows it as such). The
container's init process, already set up and released by ``start``, forks: the
child becomes the user's process (``process.run``), the parent stays pid 1. No
interpreter starts: the fork happens in the already-running init. pid 1 then

- forwards every catchable signal it receives to the child (a pid-namespace
  init gets only the signals it handles, so the handlers are what makes
  ``docker stop``'s SIGTERM reach the process);
- reaps every orphan reparented to it, so zombies do not pile up;
- exits with the child's status (128 + signal when the child was killed).

Before waiting it drops to the container's bounding set and keeps only
CAP_KILL, so the one privileged-looking process in the container holds nothing
the user's process lacks.
"""

from __future__ import annotations

import os
import signal
from typing import Callable, NoReturn

from .. import initbinary
from . import caps

_NOT_FORWARDED = {signal.SIGCHLD, signal.SIGKILL, signal.SIGSTOP}


def forwarded_signals() -> set[int]:
    return set(signal.valid_signals()) - _NOT_FORWARDED


def hold_signals() -> None:
    """Keep the forwarded signals pending until :func:`run` can forward them. Called before the container
    is reported ready: a pid-namespace init drops a signal it has no handler for, so a ``docker stop``
    right after the start would otherwise be lost (blocked signals are queued, never dropped)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, forwarded_signals())


def wanted(spec: dict) -> bool:
    """True when the engine asked for an init (``--init``) and the driver found no static one to mount."""
    return initbinary.wanted(spec)


def exit_code(status: int) -> int:
    """Docker's exit code for a wait status: the code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def run(become_process: Callable[[], NoReturn], bounding: list[str] | None, close: list | tuple = ()) -> NoReturn:
    """Fork the user's process (``become_process`` never returns), then reap and forward until it exits.

    The forwarded signals are held (:func:`hold_signals`) until the handlers are in place; the child
    clears its mask before its execve.

    ``close``: what only the child may keep (sockets, fds), closed in pid 1 right after the fork, so
    the monitor sees EOF on them when the child's copies go.
    """
    child = os.fork()
    if child == 0:
        become_process()
    for obj in close:
        if isinstance(obj, int):
            if obj >= 0:
                os.close(obj)
        else:
            obj.close()
    forward = lambda signum, _frame: _send(child, signum)  # noqa: E731
    forwarded = forwarded_signals()
    for sig in forwarded:
        try:
            signal.signal(sig, forward)
        except (OSError, ValueError, RuntimeError):
            pass
    signal.pthread_sigmask(signal.SIG_UNBLOCK, forwarded)  # what came while held is forwarded now
    try:
        caps.drop_bounding_set(caps.mask(bounding))
        caps.apply_sets({"bounding": bounding, "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
                         "inheritable": [], "ambient": []})
    except OSError:
        pass  # keeping more capabilities than needed is not a reason to kill the container
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(255)  # cannot happen while the child lives; be explicit if it does
        if pid == child:
            os._exit(exit_code(status))


def _send(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
