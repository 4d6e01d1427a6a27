"""The driver's on-disk state: one directory per container under the driver root.

Layout (``root`` is the exec driver's root, e.g. /run/berth/native)::

    <root>/forkserver.sock           the fork server's socket (one per daemon)
    <root>/<id>/state.json           written by the monitor: status, pids, exit status
    <root>/<id>/ctl.sock             the monitor's control socket (start, resize)
    <root>/<id>/monitor.log          the monitor's own diagnostics
    <root>/<id>/execs/<exec>/...     the same three files for each exec

Every state write is atomic (temp file, rename), so a reader sees the old or the
new record, never a torn one. State records are not fsynced: they describe
processes, and no process outlives a machine crash (the root is under /run, a
tmpfs on a stock system), while a crash of the daemon or of a monitor loses
nothing the kernel has been given. Pids are stored with their start time
(field 22 of /proc/<pid>/stat) so a recycled pid is never mistaken for ours.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

STATE_FILE = "state.json"
CONTROL_SOCKET = "ctl.sock"
MONITOR_LOG = "monitor.log"


def atomic_write(path: str, data: bytes, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temp file in the same dir, fsync unless not ``durable``, rename).

    The rename alone is atomic for every reader; the fsync only adds survival of a
    power loss or kernel crash.
    """
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_state(directory: str, record: dict) -> None:
    """Store ``record`` as the state of the container/exec kept in ``directory`` (atomically, not fsynced:
    see the module docstring; a container's create, start and exit each write one, on their critical path)."""
    atomic_write(os.path.join(directory, STATE_FILE), json.dumps(record, sort_keys=True).encode(), durable=False)


def read_state(directory: str) -> dict | None:
    """The state record in ``directory``, or None when there is none."""
    try:
        with open(os.path.join(directory, STATE_FILE), "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None when it does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses; the fields follow the last ")".
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] == b"Z":  # a zombie has finished; only its parent's wait is left
        return None
    return int(fields[19])


def is_alive(pid: int, started: int | None) -> bool:
    """True when ``pid`` is still the process that started at ``started``."""
    return bool(pid) and started is not None and start_time(pid) == started


def open_pidfd(pid: int, started: int | None) -> int | None:
    """A pidfd for ``pid`` if it is still the process started at ``started``, else None."""
    if not pid or started is None:
        return None
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    # Checking after opening closes the race: the fd now pins the process we verified.
    if start_time(pid) != started:
        os.close(fd)
        return None
    return fd


def wait_pidfd(fd: int, timeout: float | None) -> bool:
    """Block until the process behind ``fd`` exits; False when ``timeout`` passed first."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
        if poller.poll(left):
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False


def signal_process(pid: int, started: int | None, sig: int) -> bool:
    """Send ``sig`` to ``pid`` only if it is still the process started at ``started``."""
    fd = open_pidfd(pid, started)
    if fd is None:
        return False
    try:
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)
