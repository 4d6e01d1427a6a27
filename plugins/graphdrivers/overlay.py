"""The ``overlay`` graph driver: layers stacked by the kernel's overlayfs (after Moby's overlay2).

The on-disk layout, reference counting and the native diffs are shared with the
``fuse-overlay`` driver and described in
:mod:`berth.plugins.graphdrivers.overlay_layers`; whiteouts are overlay's own
(:mod:`berth.plugins.graphdrivers.whiteout`).

Mounting a layer with ancestors mounts overlay with lowerdir = the ``lower`` chain,
upperdir = ``diff``, workdir = ``work`` on ``merged``. A base layer (no lower) is
"mounted" by handing out its ``diff`` directory. The kernel takes mount options in
one page; absolute lowerdir paths of ~60 layers already exceed that, so past that
size the mount is done by ``mount(8)`` started in the driver root with relative
``l/<SHORT>`` paths: 128 layers fit.

We mount with ``redirect_dir=off,metacopy=off`` so that the upper directory never
depends on xattr tricks a tar cannot carry, which keeps the native diffs exact.

For ``--userns-remap`` a layer also has an id-mapped view at ``mapped`` (see
:mod:`berth.plugins.graphdrivers.idmapped`): overlayfs over id-mapped copies of the same
directories, so containers write container ids to disk and diffs need no translation.
"""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile

from berth.driverkit import (
    Conflict, DriverError, InvalidArgument, NotFound, NotSupported, hookimpl, is_mountpoint, read_text, remove_path,
)
from berth.hookspecs.types import IdMap
from berth.plugins.graphdrivers import idmapped
from berth.plugins.graphdrivers.adopt import adopt_upper
from berth.plugins.graphdrivers.mounts import sys_mount as _sys_mount, sys_umount as _sys_umount
from berth.plugins.graphdrivers.fsinfo import OVERLAYFS_MAGIC, backing_fs_name, fs_magic, supports_d_type
from berth.plugins.graphdrivers.overlay_layers import OverlayLayerStore, OverlayWhiteouts  # noqa: F401 (re-export)
from berth.plugins.graphdrivers.whiteout import OPAQUE_XATTR  # noqa: F401 (re-export for callers and tests)

_PARAMS = "/sys/module/overlay/parameters"


def _forced_options() -> str:
    # Explicit "off" for features that make the upper dir unlike a diff (and
    # index, so a layer can be remounted over different lowers); only the ones
    # this kernel knows, or it refuses the mount.
    return "".join(f"{name}=off," for name in ("index", "redirect_dir", "metacopy")
                   if os.path.exists(os.path.join(_PARAMS, name)))


class OverlayDriver(OverlayLayerStore):
    """Kernel overlayfs layers; see the module docstring and :mod:`overlay_layers` for the layout."""

    name = "overlay"
    description = "kernel overlayfs (like Docker's overlay2): fast, shares lower layers, native diffs"
    priority = 30

    # -- probing --------------------------------------------------------------------

    @classmethod
    def probe(cls, root: str) -> str | None:
        """None when overlay works under ``root`` on this host, else the reason it cannot."""
        try:
            with open("/proc/filesystems", encoding="ascii") as f:
                if not any(line.split()[-1:] == ["overlay"] for line in f):
                    return "the kernel has no overlay filesystem (not in /proc/filesystems; try 'modprobe overlay')"
        except OSError as exc:
            return f"cannot read /proc/filesystems: {exc.strerror}"
        if fs_magic(root) == OVERLAYFS_MAGIC:
            return (f"{root} is on overlayfs, and overlay cannot use overlayfs as its backing filesystem; "
                    "put --data-root on another filesystem or use the vfs or fuse-overlay driver")
        try:
            os.makedirs(root, mode=0o710, exist_ok=True)
        except OSError as exc:
            return f"cannot create the driver root {root}: {exc.strerror}"
        try:
            if not supports_d_type(root):
                return (f"the backing filesystem of {root} ({backing_fs_name(root)}) does not support d_type "
                        "(for XFS, reformat with ftype=1); overlay needs it")
        except OSError as exc:
            return f"cannot check d_type support under {root}: {exc.strerror}"
        return cls._mount_test(root)

    @staticmethod
    def _mount_test(root: str) -> str | None:
        work = tempfile.mkdtemp(prefix=".probe-", dir=root)
        try:
            dirs = {n: os.path.join(work, n) for n in ("lower1", "lower2", "upper", "work", "merged")}
            for path in dirs.values():
                os.mkdir(path)
            data = (f"{_forced_options()}lowerdir={dirs['lower1']}:{dirs['lower2']},"
                    f"upperdir={dirs['upper']},workdir={dirs['work']}")
            try:
                _sys_mount("overlay", dirs["merged"], "overlay", data)
            except OSError as exc:
                return f"a test overlay mount under {root} ({backing_fs_name(root)}) failed: {exc.strerror}"
            _sys_umount(dirs["merged"])
            return None
        finally:
            remove_path(work)

    # -- set-up -----------------------------------------------------------------------

    def __init__(self, root: str, options: dict | None = None):
        unknown = sorted(set(options or {}))
        if unknown:
            raise InvalidArgument(f"overlay: unknown storage option(s) {', '.join(unknown)}; overlay takes none yet")
        super().__init__(root)
        self._options = _forced_options()
        self._page = os.sysconf("SC_PAGESIZE")
        self.cleanup_leftovers(_sys_umount)

    # -- mounting -------------------------------------------------------------------------

    def _attach(self, layer_id: str, lower: str, mount_label: str, upper: bool = True) -> None:
        label = f',context="{mount_label}"' if mount_label else ""
        lowers = lower.split(":")
        writable = f",upperdir={self.root}/{layer_id}/diff,workdir={self.root}/{layer_id}/work" if upper else ""
        absolute = f"{self._options}lowerdir={':'.join(os.path.join(self.root, l) for l in lowers)}{writable}{label}"
        merged = os.path.join(self.root, layer_id, "merged")
        try:
            if len(absolute) < self._page - 1:
                _sys_mount("overlay", merged, "overlay", absolute)
                return
            writable = f",upperdir={layer_id}/diff,workdir={layer_id}/work" if upper else ""
            relative = f"{self._options}lowerdir={lower}{writable}{label}"
            if len(relative) >= self._page - 1:
                raise DriverError(
                    f"overlay: layer {layer_id} has {len(lowers)} ancestors, too many for one overlay mount "
                    "(at most about 128); squash the image"
                )
            # Relative paths resolve against the mounting process's cwd: run mount(8)
            # in the driver root rather than chdir-ing this (threaded) process.
            proc = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", relative, f"{layer_id}/merged"],
                                  cwd=self.root, capture_output=True, text=True)
            if proc.returncode != 0:
                raise OSError(errno.EIO, proc.stderr.strip() or f"mount exited {proc.returncode}")
        except OSError as exc:
            raise DriverError(f"overlay: cannot mount layer {layer_id} ({len(lowers)} lower layers): {exc.strerror or exc}") from exc

    def _detach(self, layer_id: str) -> None:
        _sys_umount(os.path.join(self.root, layer_id, "merged"))

    def _attach_readonly(self, layer_id: str, lower: str, mount_label: str) -> None:
        link = read_text(os.path.join(self.root, layer_id, "link"))
        self._attach(layer_id, f"l/{link}:{lower}", mount_label, upper=False)

    # -- committing a build step -------------------------------------------------------------

    @hookimpl
    def graph_adopt_diff(self, layer_id: str, parent: str | None, source: str, source_parent: str | None) -> int:
        """Move ``source``'s upper directory (its diff against its parent) into ``layer_id``'s."""
        if not self._is_parent(layer_id, parent) or not self._is_parent(source, source_parent):
            raise NotSupported(f"overlay: {source}'s files are its diff only against its own parent, and "
                               f"{layer_id} must stand on {parent}")
        with self._lock(source):
            path = self._dir(source)
            for point in (os.path.join(path, "merged"), os.path.join(path, "mapped")):
                if self._refs.get(source) or self._idrefs.get(source) or (
                        os.path.isdir(point) and is_mountpoint(point)):
                    raise NotSupported(f"overlay: layer {source} is mounted at {point}; its files cannot move")
            return adopt_upper(os.path.join(path, "diff"), os.path.join(self._dir(layer_id), "diff"))

    # -- id-mapped views ---------------------------------------------------------------------

    def _option_pairs(self, mount_label: str = "") -> list[tuple[str, str]]:
        pairs = [tuple(option.split("=", 1)) for option in self._options.split(",") if option]
        return pairs + ([("context", mount_label)] if mount_label else [])

    @hookimpl
    def graph_idmap_check(self, idmap: IdMap) -> str:
        return (idmapped.check_bind(self.root, idmap) or idmapped.check_overlay(self.root, idmap, self._option_pairs())
                or "")

    @hookimpl
    def graph_mount_idmapped(self, layer_id: str, mount_label: str, idmap: IdMap) -> str:
        path = self._dir(layer_id)
        mapped = os.path.join(path, "mapped")
        with self._lock(layer_id):
            if not os.path.isdir(os.path.join(path, "diff")):
                raise NotFound(f"overlay: cannot mount layer {layer_id}: it does not exist")
            if self._refs.get(layer_id) and layer_id not in self._readonly:
                raise Conflict(f"overlay: layer {layer_id} is mounted plainly for writing; it cannot be mounted "
                               "through an id map at the same time, try again once that is done")
            if not self._idrefs.get(layer_id):
                idmapped.open_to_map_root(idmap, self.root, path)
                os.makedirs(mapped, mode=0o700, exist_ok=True)
                if not is_mountpoint(mapped):  # else left by an earlier daemon for a container still running
                    self._attach_idmapped(layer_id, mapped, idmap, mount_label)
            self._idrefs[layer_id] = self._idrefs.get(layer_id, 0) + 1
            return mapped

    def _attach_idmapped(self, layer_id: str, mapped: str, idmap: IdMap, mount_label: str) -> None:
        path = self._dir(layer_id)
        lowers = self.lower_dirs(layer_id)
        try:
            if lowers:
                idmapped.mount_overlay_idmapped(mapped, lowers, path, idmap, self._option_pairs(mount_label))
            else:
                idmapped.bind_idmapped(os.path.join(path, "diff"), mapped, idmap)
        except OSError as exc:
            raise DriverError(f"overlay: cannot mount layer {layer_id} through an id map "
                              f"({len(lowers)} lower layers): {exc}") from exc

    @hookimpl
    def graph_unmount_idmapped(self, layer_id: str) -> bool:
        mapped = os.path.join(self._dir(layer_id), "mapped")
        with self._lock(layer_id):
            count = self._idrefs.pop(layer_id, 0)
            if count > 1:
                self._idrefs[layer_id] = count - 1
            elif count == 1 and os.path.isdir(mapped):
                _sys_umount(mapped)
                try:
                    os.rmdir(mapped)
                except OSError:
                    pass
        return True

    @hookimpl
    def graph_cleanup(self) -> bool:
        self._release_every_mount(self._idrefs, "mapped",
                                  lambda layer_id: _sys_umount(os.path.join(self.root, layer_id, "mapped")))
        return super().graph_cleanup()

    # -- reporting --------------------------------------------------------------------------

    @hookimpl
    def graph_status(self) -> list[tuple[str, str]]:
        return [
            ("Backing Filesystem", backing_fs_name(self.root)),
            ("Supports d_type", "true"),
            ("Native Overlay Diff", "true"),
            ("userxattr", "false"),
        ]
