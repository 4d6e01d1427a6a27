"""Trash: remove directory trees after answering, without leaving half of them visible.

A graph driver's layer is gone the moment it is renamed into the driver's trash
directory (one atomic rename on the same filesystem); the tree itself is deleted
by one background thread, so ``rm`` does not wait for thousands of unlinks. What a
crash leaves in the trash is emptied when the next daemon opens it, and
:meth:`Trash.drain` (the driver's ``graph_cleanup``) waits for the deletions, so a
daemon that stops cleanly leaves an empty trash behind.
"""

from __future__ import annotations

import errno
import os
import threading
import uuid

from berth.fsutil import remove_path

#: how long a stopping daemon waits for the background deletions (what is left is emptied at the next start)
TRASH_DRAIN_TIMEOUT = 60.0


class Trash:
    """A directory whose entries are deleted in the background."""

    def __init__(self, path: str):
        self.path = path
        os.makedirs(path, mode=0o700, exist_ok=True)
        self._cond = threading.Condition()
        self._worker: threading.Thread | None = None
        self._failed: set[str] = set()  # entries that could not be deleted: left for the next start
        if os.listdir(path):  # a crashed daemon's: emptied like any other discarded tree
            self._wake()

    def discard(self, path: str) -> None:
        """Move ``path`` into the trash and delete it later; where it cannot be moved, delete it now."""
        try:
            os.rename(path, os.path.join(self.path, uuid.uuid4().hex))
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EXDEV, errno.EBUSY):
                raise
            remove_path(path)  # another filesystem (or a mount point): no cheap rename, so the slow way
            return
        self._wake()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything discarded so far is deleted; False when ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._worker is None, timeout)

    def _wake(self) -> None:
        with self._cond:
            if self._worker is None:
                self._worker = threading.Thread(target=self._empty, name="trash", daemon=True)
                self._worker.start()

    def _empty(self) -> None:
        """Delete whatever the trash holds; stop (under the lock ``_wake`` takes) once it holds nothing new."""
        while True:
            with self._cond:
                names = [n for n in os.listdir(self.path) if n not in self._failed]
                if not names:
                    self._worker = None
                    self._cond.notify_all()
                    return
            for name in names:
                try:
                    remove_path(os.path.join(self.path, name))
                except OSError:
                    self._failed.add(name)  # not lost in a dead thread: the next start tries again
