"""The ``vfs`` graph driver: every layer is a full copy of its parent (Moby's vfs).

On disk, under the driver root (``<data-root>/vfs``)::

    dir/<layer-id>/          the layer's complete filesystem
    dir/.tmp-<layer-id>-*    a layer being created (renamed into place when complete)
    dir/.rm-<layer-id>-*     a layer being removed (by an earlier berth: now removed through the trash)
    trash/                   removed layers, renamed here at once and deleted in the background
                             (:mod:`berth.trash`), so ``dir`` never shows half a layer
    mapped/<layer-id>/       while mounted through an id map (``--userns-remap``): an
                             id-mapped bind mount of ``dir/<layer-id>``

Creating a layer copies its parent with reflinks where the filesystem supports
them (cheap on btrfs/XFS), else byte by byte: simple and works everywhere, at the
cost of disk space. Mounting is just handing out the directory (reference counts
are kept anyway so misuse shows up the same way as with real mounts). Diffs come
from the core's naive diff.
"""

from __future__ import annotations

import os
import threading
import uuid

from berth.driverkit import (
    TRASH_DRAIN_TIMEOUT, Conflict, DriverError, InvalidArgument, NotFound, Trash, fsync_dir, hookimpl, is_mountpoint,
    refuse_storage_options, remove_path,
)
from berth.hookspecs import CONTRACT
from berth.hookspecs.types import IdMap
from berth.plugins.graphdrivers import idmapped
from berth.plugins.graphdrivers.copytree import TreeCopier
from berth.plugins.graphdrivers.fsinfo import backing_fs_name, spread_subdirectories
from berth.plugins.graphdrivers.mounts import sys_umount


class VfsDriver:
    """Full-copy layers; see the module docstring for the layout."""

    name = "vfs"
    contract = CONTRACT  # built-ins follow the contract of the berth they ship with
    description = "each layer a full copy of its parent (reflink when the filesystem supports it); works everywhere"
    priority = 10

    @classmethod
    def probe(cls, root: str) -> str | None:
        """vfs needs nothing from the kernel; only a directory it can create."""
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
        except OSError as exc:
            return f"cannot create the driver root {root}: {exc.strerror}"
        return None

    def __init__(self, root: str, options: dict | None = None):
        unknown = sorted(set(options or {}))
        if unknown:
            raise InvalidArgument(f"vfs: unknown storage option(s) {', '.join(unknown)}; vfs takes none")
        self.root = root
        self.dir = os.path.join(root, "dir")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        spread_subdirectories(self.dir)  # each layer's tree in a block group of its own
        self.trash = Trash(os.path.join(root, "trash"))
        self._copier = TreeCopier()
        self.mapped = os.path.join(root, "mapped")
        self._lock = threading.Lock()
        self._refs: dict[str, int] = {}
        self._idrefs: dict[str, int] = {}
        self._cleanup_leftovers()

    def _cleanup_leftovers(self) -> None:
        # A crash mid-create or mid-remove leaves a hidden dir; neither is a layer. A crashed
        # id-map probe leaves its mount (the views of running containers stay: they are adopted).
        for entry in os.listdir(self.dir):
            if entry.startswith((".tmp-", ".rm-")):
                remove_path(os.path.join(self.dir, entry))
        for entry in os.listdir(self.root):
            if entry.startswith(".probe-"):
                sys_umount(os.path.join(self.root, entry, "merged"))
                remove_path(os.path.join(self.root, entry))

    def _path(self, layer_id: str) -> str:
        if not layer_id or "/" in layer_id or layer_id.startswith("."):
            raise InvalidArgument(f"vfs: invalid layer id {layer_id!r}")
        return os.path.join(self.dir, layer_id)

    # -- lifecycle ----------------------------------------------------------------

    @hookimpl
    def graph_create(self, layer_id: str, parent: str | None) -> bool:
        path = self._path(layer_id)
        if os.path.lexists(path):
            raise Conflict(f"vfs: layer {layer_id} already exists")
        parent_path = None
        if parent is not None:
            parent_path = self._path(parent)
            if not os.path.isdir(parent_path):
                raise NotFound(f"vfs: parent layer {parent} of {layer_id} does not exist")
        tmp = os.path.join(self.dir, f".tmp-{layer_id}-{uuid.uuid4().hex[:8]}")
        os.mkdir(tmp, 0o755)
        try:
            os.chown(tmp, 0, 0)
            os.chmod(tmp, 0o755)
            if parent_path is not None:
                self._copier.copy(parent_path, tmp)
            os.rename(tmp, path)
        except BaseException:
            remove_path(tmp)
            raise
        fsync_dir(self.dir)
        return True

    @hookimpl
    def graph_create_rw(self, layer_id: str, parent: str | None, options: dict) -> bool:
        refuse_storage_options("vfs", options)
        return self.graph_create(layer_id, parent)

    @hookimpl
    def graph_remove(self, layer_id: str) -> bool:
        path = self._path(layer_id)
        if not os.path.lexists(path):
            return True
        with self._lock:
            held = self._refs.get(layer_id, 0) + self._idrefs.get(layer_id, 0)
            if held or is_mountpoint(os.path.join(self.mapped, layer_id)):
                raise Conflict(f"vfs: layer {layer_id} is still in use ({held} mount reference(s))")
        # Renamed away at once, so a crash mid-delete never leaves a half-deleted "layer"
        self.trash.discard(path)
        return True

    @hookimpl
    def graph_exists(self, layer_id: str) -> bool:
        return os.path.isdir(self._path(layer_id))

    # -- mounting -----------------------------------------------------------------

    @hookimpl
    def graph_mount(self, layer_id: str, mount_label: str) -> str:
        path = self._path(layer_id)
        with self._lock:
            if not os.path.isdir(path):
                raise NotFound(f"vfs: cannot mount layer {layer_id}: it does not exist")
            self._refs[layer_id] = self._refs.get(layer_id, 0) + 1
        return path

    @hookimpl
    def graph_unmount(self, layer_id: str) -> bool:
        with self._lock:
            count = self._refs.get(layer_id, 0)
            if count <= 1:
                self._refs.pop(layer_id, None)
            else:
                self._refs[layer_id] = count - 1
        return True

    # -- id-mapped views ------------------------------------------------------------

    @hookimpl
    def graph_idmap_check(self, idmap: IdMap) -> str:
        return idmapped.check_bind(self.root, idmap) or ""

    @hookimpl
    def graph_mount_idmapped(self, layer_id: str, mount_label: str, idmap: IdMap) -> str:
        """An id-mapped bind mount of the layer's directory (plain mounts of it may coexist: nothing is shared)."""
        path = self._path(layer_id)
        view = os.path.join(self.mapped, layer_id)
        with self._lock:
            if not os.path.isdir(path):
                raise NotFound(f"vfs: cannot mount layer {layer_id}: it does not exist")
            if not self._idrefs.get(layer_id):
                os.makedirs(self.mapped, mode=0o710, exist_ok=True)
                idmapped.open_to_map_root(idmap, self.root, self.mapped)
                os.makedirs(view, mode=0o700, exist_ok=True)
                if not is_mountpoint(view):  # else left by an earlier daemon for a container still running
                    try:
                        idmapped.bind_idmapped(path, view, idmap)
                    except OSError as exc:
                        raise DriverError(f"vfs: cannot mount layer {layer_id} through an id map: {exc}") from exc
            self._idrefs[layer_id] = self._idrefs.get(layer_id, 0) + 1
        return view

    @hookimpl
    def graph_unmount_idmapped(self, layer_id: str) -> bool:
        self._path(layer_id)  # refuses an id that could name a path elsewhere
        view = os.path.join(self.mapped, layer_id)
        with self._lock:
            count = self._idrefs.pop(layer_id, 0)
            if count > 1:
                self._idrefs[layer_id] = count - 1
            elif count == 1:
                self._detach_view(view)
        return True

    @staticmethod
    def _detach_view(view: str) -> None:
        sys_umount(view)
        try:
            os.rmdir(view)
        except OSError:
            pass

    # -- reporting ------------------------------------------------------------------

    @hookimpl
    def graph_status(self) -> list[tuple[str, str]]:
        reflink = {None: "unknown (no copy yet)", True: "true", False: "false"}[self._copier.reflink]
        return [("Backing Filesystem", backing_fs_name(self.root)), ("Reflink", reflink)]

    @hookimpl
    def graph_metadata(self, layer_id: str) -> dict[str, str]:
        return {"Dir": self._path(layer_id)}

    @hookimpl
    def graph_cleanup(self) -> bool:
        with self._lock:
            self._refs.clear()
            for layer_id in list(self._idrefs):
                self._detach_view(os.path.join(self.mapped, layer_id))
            self._idrefs.clear()
        self.trash.drain(TRASH_DRAIN_TIMEOUT)
        return True
