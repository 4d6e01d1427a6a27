"""The init layer between an image and a container's read-write layer (Moby's ``daemon/initlayer``).

The engine bind-mounts its own /etc/hosts, /etc/resolv.conf and /etc/hostname
into a container, and the kernel filesystems onto /proc, /sys, /dev. Bind mounts
need something to mount over, and creating those mount points in the container's
own layer would make them show up in ``diff`` and in every ``commit``. So, as
Docker does, a small layer holding empty placeholders lies between the image and a
container's read-write layer ``<id>``: diffs, commits and exports of the container's
changes are taken against it.

Unlike Docker, which makes one ``<id>-init`` per container (a graph layer created,
mounted, written and unmounted at every create), berth makes one per image layer,
``<layer>-init``, shared by every container standing on that layer
(:class:`SharedInitLayers`): the placeholders depend only on the image's files, and
no container writes to a layer below its own. It stays while its image layer does
(the next container of the image needs it) and is removed just before that layer.
Containers made by an earlier berth keep their own ``<id>-init``.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading

from berth.images.metadata import now as _now
from berth.images.scope import resolve_in_root

log = logging.getLogger(__name__)

INIT_SUFFIX = "-init"

# (container path, kind, symlink target); created only when the image lacks them, as Docker does
PLACEHOLDERS: list[tuple[str, str, str]] = [
    ("/dev/pts", "dir", ""),
    ("/dev/shm", "dir", ""),
    ("/proc", "dir", ""),
    ("/sys", "dir", ""),
    ("/etc/resolv.conf", "file", ""),
    ("/etc/hosts", "file", ""),
    ("/etc/hostname", "file", ""),
    ("/etc/mtab", "symlink", "/proc/mounts"),
]


def init_layer_id(container_layer_id: str) -> str:
    """The graph id of a container layer's own init layer (as an earlier berth made them, and Docker)."""
    return container_layer_id + INIT_SUFFIX


class SharedInitLayers:
    """The init layers of a store, one per image layer (``inits`` in metadata.db; see the module docstring).

    Crash safety as for other layers: a layer being made or removed is listed in ``pending`` (durably)
    first, so start-up reconciliation removes what a crash left half-done.
    """

    def __init__(self, db, graph):
        self.db = db
        self.graph = graph
        self._lock = threading.Lock()  # one creation or removal at a time; a lookup is one query

    @staticmethod
    def layer_id(parent_cache: str | None) -> str:
        """The graph id of the init layer on the image layer whose graph id is ``parent_cache``."""
        return (parent_cache or "empty") + INIT_SUFFIX

    def ensure(self, parent_chain: str | None, parent_cache: str | None) -> str:
        """The init layer on ``parent_chain`` (graph id ``parent_cache``; None: an image without layers),
        made now if it does not exist. The caller holds a reference on that layer, so its removal cannot race."""
        init_id = self.layer_id(parent_cache)
        key = parent_chain or ""
        if self.db.query("SELECT 1 FROM inits WHERE parent_chain = ?", (key,)):
            return init_id
        with self._lock:
            if not self.db.query("SELECT 1 FROM inits WHERE parent_chain = ?", (key,)):
                self._make(key, init_id, parent_cache)
        return init_id

    def _make(self, key: str, init_id: str, parent_cache: str | None) -> None:
        with self.db.tx(durable=True) as db:
            db.execute("INSERT OR IGNORE INTO pending (cache_id, started) VALUES (?, ?)", (init_id, _now()))
        if self.graph.exists(init_id):  # a crash's leftover that reconciliation could not remove
            self.graph.remove(init_id)
        try:
            self.graph.create_rw(init_id, parent_cache, {})
            root = self.graph.mount(init_id)
            try:
                write_placeholders(root)
            finally:
                self.graph.unmount(init_id)
        except BaseException:
            try:
                self.graph.remove(init_id)
            except Exception as exc:  # listed as pending: the next start removes it
                log.warning("cannot remove half-made init layer %s: %s", init_id, exc)
            raise
        with self.db.tx() as db:
            db.execute("INSERT INTO inits (parent_chain, init_id, created) VALUES (?, ?, ?)", (key, init_id, _now()))
            db.execute("DELETE FROM pending WHERE cache_id = ?", (init_id,))

    def remove_on(self, parent_chain: str) -> None:
        """Remove the init layer on ``parent_chain``, whose last reference is gone (it is removed next)."""
        with self._lock:
            rows = self.db.query("SELECT init_id FROM inits WHERE parent_chain = ?", (parent_chain,))
            if not rows:
                return
            init_id = rows[0]["init_id"]
            with self.db.tx() as db:
                db.execute("INSERT OR IGNORE INTO pending (cache_id, started) VALUES (?, ?)", (init_id, _now()))
                db.execute("DELETE FROM inits WHERE parent_chain = ?", (parent_chain,))
            self.graph.remove(init_id)
            with self.db.tx() as db:
                db.execute("DELETE FROM pending WHERE cache_id = ?", (init_id,))


def write_placeholders(root: str) -> list[str]:
    """Create the missing placeholders under the mounted init layer ``root``; return the paths made.

    Parents are resolved inside ``root``; a placeholder whose parent is not a
    directory in the image (e.g. /etc is a file) is skipped and logged, never forced.
    """
    made = []
    for path, kind, target in PLACEHOLDERS:
        host = resolve_in_root(root, path, follow_final=False)
        if os.path.lexists(host):
            continue
        parent = os.path.dirname(host)
        try:
            _mkdirs(root, parent)
            if kind == "dir":
                os.mkdir(host, 0o755)
            elif kind == "file":
                fd = os.open(host, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o755)
                os.close(fd)
            else:
                os.symlink(target, host)
            os.lchown(host, 0, 0)
            made.append(path)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.EEXIST):
                raise
            log.warning("init layer: cannot create %s (%s); the image's own entry stays", path, exc.strerror)
    return made


def _mkdirs(root: str, host_dir: str) -> None:
    """``mkdir -p`` of ``host_dir`` (already resolved inside ``root``), 0755 root:root."""
    missing = []
    cur = host_dir
    while not os.path.lexists(cur) and cur.startswith(root) and cur != root:
        missing.append(cur)
        cur = os.path.dirname(cur)
    if os.path.lexists(cur) and not stat.S_ISDIR(os.lstat(cur).st_mode):
        raise OSError(errno.ENOTDIR, "not a directory", cur)
    for path in reversed(missing):
        os.mkdir(path, 0o755)
        os.lchown(path, 0, 0)
