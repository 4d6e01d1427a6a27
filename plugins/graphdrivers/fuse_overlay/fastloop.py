"""A shorter way from one FUSE request to the next for pyfuse3's request loop.

pyfuse3 (3.x) waits for every request the same way: take a trio lock, register the
FUSE fd with epoll, park the task, let trio's scheduler run a round, wake up, read.
A process in a container asks one thing at a time (stat, then open, then read...),
so nearly every request finds the server waiting, and that round trip through trio
costs more than most handlers: a DeepLayerRead sample took 3-6x fuse-overlayfs's time
with it, about 1.1x without it.

Here the server waits for the next request in ``poll(2)`` on the FUSE fd itself, for
up to :data:`BUSY_WAIT_MS`; only a server idle that long parks in trio as before, so
an idle server still sleeps in trio, its signal handler still runs and
``pyfuse3.terminate()`` still wakes it. The price: while requests keep coming less
than :data:`BUSY_WAIT_MS` apart, trio's other tasks (the SIGTERM handler) wait for a
pause; unmounting still stops the server at once (the next read fails with ENODEV).
Every handler here is synchronous, so no request ever waits on a trio task.

It replaces the module-level coroutine ``pyfuse3._wait_fuse_readable``, which
pyfuse3's loop looks up at each iteration. That is pyfuse3's private API: the
replacement is installed only for the versions it was checked against, and only
with one worker task (``main(max_tasks=1)``): with several, pyfuse3 would start a
new worker for each request read this way.
"""

from __future__ import annotations

import os
import select
from typing import Callable

CHECKED_VERSIONS = ("3.3", "3.4", "3.5")
BUSY_WAIT_MS = 20


def fuse_fd() -> int | None:
    """The process's /dev/fuse descriptor (the session's), or None unless there is exactly one."""
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == "/dev/fuse":
                found.append(int(name))
        except OSError:
            continue
    return found[0] if len(found) == 1 else None


def _unchecked(pyfuse3) -> str:
    """Why pyfuse3's request loop may not be hooked here ("" when it may)."""
    version = getattr(pyfuse3, "__version__", "")
    if not version.startswith(CHECKED_VERSIONS):
        return f"pyfuse3 {version or '(unknown version)'} is not one the fast loop was checked against"
    if getattr(pyfuse3, "_wait_fuse_readable", None) is None:
        return "pyfuse3 has no _wait_fuse_readable"
    return ""


def after_init(pyfuse3, action: Callable[[], None]) -> str:
    """Run ``action`` once, as soon as the kernel has taken the session's INIT reply; "" when
    arranged, else why not.

    The first request of a session is INIT, answered before its worker waits again, and the
    kernel applies the reply (clamping, among others, the mount's readahead to what INIT
    negotiated) while that answer is written. So the second wait for a request comes after it.
    Install this after :func:`install`: it wraps whichever wait is in place.
    """
    why_not = _unchecked(pyfuse3)
    if why_not:
        return why_not
    inner = pyfuse3._wait_fuse_readable
    waits = 0

    async def wait_fuse_readable() -> bool:
        nonlocal waits
        waits += 1
        if waits == 2:
            action()
        return await inner()

    pyfuse3._wait_fuse_readable = wait_fuse_readable
    return ""


def install(pyfuse3) -> str:
    """Put the fast wait in place after ``pyfuse3.init``; "" when done, else why not (then nothing changed)."""
    why_not = _unchecked(pyfuse3)
    if why_not:
        return why_not
    stock = pyfuse3._wait_fuse_readable
    fd = fuse_fd()
    if fd is None:
        return "cannot tell which descriptor is the FUSE session's"
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    ready = poller.poll

    async def wait_fuse_readable() -> bool:
        if ready(BUSY_WAIT_MS):
            return True  # a request (or the end of the session) is waiting: read it now
        return await stock()

    pyfuse3._wait_fuse_readable = wait_fuse_readable
    return ""
