"""A layer's symlinks, made by helper threads while its extraction reads on.

Creating an inode costs the kernel far more than the Python around it (a few hundred µs
per symlink on a virtual disk; a busybox layer has ~270 of them). So a layer extraction
hands each symlink -- once every check on it is done -- to a helper thread and goes on
parsing: the kernel's work and the Python's overlap (the thread waits in the kernel without
the GIL). With more than one thread, a symlink's directory chooses its thread (creations in
one directory do not run in parallel). One is the default: on two cores shared with the
rest of a pull (downloads, the other layers), a second thread measured slower, not faster.

What the extraction must know: a queued symlink is not on disk yet. It is the archive's
own, so no later entry may pass through it anyway (the extractor refuses a path through a
missing component that is one of its own symlinks), and a layer never holds a path twice.
Whatever may look at it -- a hard link, a whiteout, the directories' times -- waits with
:meth:`SymlinkMaker.flush` first. Each thread writes through its own duplicate of the
directory's descriptor, so nothing can land outside the layer. A failure is kept and given
to the extractor at the next :meth:`~SymlinkMaker.add` or :meth:`~SymlinkMaker.flush`;
:meth:`~SymlinkMaker.close` returns only when no thread can touch the layer any more.
"""

from __future__ import annotations

import os
import queue
import threading
import zlib
from typing import Callable

#: (directory descriptor, name, tar member) -> None: the extractor's own creation of one symlink
MakeSymlink = Callable[[int, str, object], None]


class SymlinkMaker:
    """Up to ``workers`` threads making the symlinks :meth:`add` queues (started on first use)."""

    def __init__(self, make: MakeSymlink, workers: int = 1):
        self._make = make
        self._workers = workers
        self._queues: list[queue.Queue] = []
        self._threads: list[threading.Thread] = []
        self._failure: tuple[BaseException, str] | None = None  # the first error, and the entry's name

    def add(self, directory: str, dir_fd: int, name: str, member) -> None:
        """Queue symlink ``name`` of ``member`` in the directory open as ``dir_fd`` (its path ``directory``
        in the layer); raises an earlier symlink's failure instead."""
        self._raise_failure()
        if not self._threads:
            self._start()
        index = zlib.crc32(directory.encode("utf-8", "surrogateescape")) % len(self._queues)
        self._queues[index].put((os.dup(dir_fd), name, member))

    def flush(self) -> None:
        """Return once every queued symlink is made; raise the first failure, as (error, entry name)."""
        for jobs in self._queues:
            jobs.join()
        self._raise_failure()

    def close(self) -> None:
        """Let the threads make what is queued (nothing more once one failed) and stop; return when they have."""
        for jobs in self._queues:
            jobs.put(None)
        for thread in self._threads:
            thread.join()
        self._queues.clear()
        self._threads.clear()

    def _start(self) -> None:
        for _ in range(self._workers):
            jobs: queue.Queue = queue.Queue()
            thread = threading.Thread(target=self._work, args=(jobs,), name="layer-symlinks", daemon=True)
            self._queues.append(jobs)
            self._threads.append(thread)
            thread.start()

    def _work(self, jobs: queue.Queue) -> None:
        while True:
            job = jobs.get()
            try:
                if job is None:
                    return
                dir_fd, name, member = job
                try:
                    if self._failure is None:
                        self._make(dir_fd, name, member)
                except BaseException as exc:  # noqa: BLE001 - handed to the extractor
                    if self._failure is None:
                        self._failure = (exc, member.name)
                finally:
                    os.close(dir_fd)
            finally:
                jobs.task_done()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise SymlinkFailed(*self._failure)


class SymlinkFailed(Exception):
    """A queued symlink could not be made: ``error`` is why, ``name`` the archive entry."""

    def __init__(self, error: BaseException, name: str):
        super().__init__(error, name)
        self.error = error
        self.name = name
