"""The ``overlay`` graph driver: layers stacked by the kernel's overlayfs (after Moby's overlay2).

On disk, under the driver root (``<data-root>/overlay``)::

    l/<SHORT>            symlink -> ../<layer-id>/diff; SHORT is a random 26-character
                         name, so a mount's lowerdir list stays short (see below)
    <layer-id>/diff/     the layer's own files: its applied diff, or a container's
                         writes (overlay's upperdir). Whiteouts are overlay's: a 0/0
                         character device for a deleted path, the xattr
                         trusted.overlay.opaque=y on a directory that hides lower ones
    <layer-id>/link      SHORT, the name of this layer under l/
    <layer-id>/lower     the ancestors as "l/<SHORT-parent>:l/<SHORT-grandparent>:...",
                         nearest first; absent for a base layer
    <layer-id>/work/     overlay's workdir (only for layers with a lower)
    <layer-id>/merged/   the mount point while mounted (removed on unmount, as Docker)
    .tmp-<layer-id>-*    a layer being created; renamed into place when complete

Mounting a layer with ancestors mounts overlay with lowerdir = the ``lower`` chain,
upperdir = ``diff``, workdir = ``work`` on ``merged``. A base layer (no lower) is
"mounted" by handing out its ``diff`` directory. The kernel takes mount options in
one page; absolute lowerdir paths of ~60 layers already exceed that, so past that
size the mount is done by ``mount(8)`` started in the driver root with relative
``l/<SHORT>`` paths: 128 layers fit.

Mounts are reference-counted in memory only (a count persisted on disk would be
wrong after a crash); a layer whose merged dir is still mounted from a previous
daemon run is adopted on its first mount.

Diffs are native: a layer's diff against its parent *is* its ``diff`` directory, so
it is tarred directly, converting overlay whiteouts to OCI ones, and applied
directly, converting back. We mount with ``redirect_dir=off,metacopy=off`` so that
the upper directory never depends on xattr tricks a tar cannot carry. Asked for a
diff against a layer that is not the parent, the hooks return None and the core's
naive diff answers.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import errno
import os
import secrets
import stat
import subprocess
import tempfile
import threading
import uuid
from typing import BinaryIO

from berth import hookimpl
from berth.errors import Conflict, DriverError, InvalidArgument, NotFound
from berth.fsutil import atomic_write, fsync_dir, is_mountpoint, read_text, remove_path
from berth.images.layertar import LayerTarWriter, walk
from berth.images.pipestream import producer_stream
from berth.images.tarsafe import extract_layer, remove_at
from berth.plugins.graphdrivers.fsinfo import OVERLAYFS_MAGIC, backing_fs_name, fs_magic, supports_d_type

OPAQUE_XATTR = "trusted.overlay.opaque"
_PARAMS = "/sys/module/overlay/parameters"
_MNT_DETACH = 2
_SHORT_LEN = 26  # as overlay2: 128 "l/<26>:" entries fit in a page

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _sys_mount(source: str, target: str, fstype: str, data: str) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(0), data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount overlay on {target}: {os.strerror(err)}")


def _sys_umount(target: str) -> None:
    if _libc.umount2(target.encode(), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not mounted
            raise OSError(err, f"unmount {target}: {os.strerror(err)}")


def _short_id() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode()[:_SHORT_LEN]


def _forced_options() -> str:
    # Explicit "off" for features that make the upper dir unlike a diff (and
    # index, so a layer can be remounted over different lowers); only the ones
    # this kernel knows, or it refuses the mount.
    return "".join(f"{name}=off," for name in ("index", "redirect_dir", "metacopy")
                   if os.path.exists(os.path.join(_PARAMS, name)))


class OverlayWhiteouts:
    """Apply OCI whiteouts to an upper directory as overlay whiteouts."""

    def whiteout(self, parent_fd: int, name: str, rel: str, member) -> None:
        remove_at(parent_fd, name)
        os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)
        os.chown(name, member.uid, member.gid, dir_fd=parent_fd, follow_symlinks=False)

    def opaque(self, dir_fd: int, rel: str, member, extracted: set[str]) -> None:
        os.setxattr(dir_fd, OPAQUE_XATTR, b"y")


class OverlayDriver:
    """Kernel overlayfs layers; see the module docstring for the layout."""

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
        self.root = root
        self.links = os.path.join(root, "l")
        os.makedirs(self.links, mode=0o700, exist_ok=True)
        self._options = _forced_options()
        self._page = os.sysconf("SC_PAGESIZE")
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._refs: dict[str, int] = {}
        self._cleanup_leftovers()

    def _cleanup_leftovers(self) -> None:
        for entry in os.listdir(self.root):
            if entry.startswith((".tmp-", ".rm-", ".probe-")):
                path = os.path.join(self.root, entry)
                merged = os.path.join(path, "merged")
                if entry.startswith(".probe-"):
                    _sys_umount(os.path.join(path, "merged"))
                elif os.path.isdir(merged) and is_mountpoint(merged):
                    continue  # never delete through a mount
                remove_path(path)
        for link in os.listdir(self.links):
            if not os.path.exists(os.path.join(self.links, link)):
                os.unlink(os.path.join(self.links, link))  # its layer was never completed or is gone

    def _dir(self, layer_id: str) -> str:
        if not layer_id or "/" in layer_id or layer_id.startswith(".") or layer_id == "l":
            raise InvalidArgument(f"overlay: invalid layer id {layer_id!r}")
        return os.path.join(self.root, layer_id)

    def _lock(self, layer_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(layer_id, threading.Lock())

    def _lower(self, layer_id: str) -> str | None:
        return read_text(os.path.join(self._dir(layer_id), "lower"))

    def _is_parent(self, layer_id: str, parent: str | None) -> bool:
        """True when ``parent`` is ``layer_id``'s real parent (so the diff dir is the diff)."""
        lower = self._lower(layer_id)
        if parent is None:
            return lower is None
        link = read_text(os.path.join(self._dir(parent), "link"))
        return lower is not None and link is not None and lower.split(":", 1)[0] == f"l/{link}"

    # -- lifecycle ----------------------------------------------------------------------

    @hookimpl
    def graph_create(self, layer_id: str, parent: str | None) -> bool:
        final = self._dir(layer_id)
        if os.path.lexists(final):
            raise Conflict(f"overlay: layer {layer_id} already exists")
        lower = None
        if parent is not None:
            parent_link = read_text(os.path.join(self._dir(parent), "link"))
            if parent_link is None:
                raise NotFound(f"overlay: parent layer {parent} of {layer_id} does not exist")
            parent_lower = self._lower(parent)
            lower = f"l/{parent_link}" + (f":{parent_lower}" if parent_lower else "")
        tmp = os.path.join(self.root, f".tmp-{layer_id}-{uuid.uuid4().hex[:8]}")
        short = _short_id()
        link_path = os.path.join(self.links, short)
        try:
            os.mkdir(tmp, 0o710)
            diff = os.path.join(tmp, "diff")
            os.mkdir(diff, 0o755)
            os.chown(diff, 0, 0)
            os.chmod(diff, 0o755)
            atomic_write(os.path.join(tmp, "link"), short.encode())
            if lower is not None:
                os.mkdir(os.path.join(tmp, "work"), 0o700)
                atomic_write(os.path.join(tmp, "lower"), lower.encode())
            # The link first (dangling until the rename): a layer never exists without it
            os.symlink(f"../{layer_id}/diff", link_path)
            os.rename(tmp, final)
        except BaseException:
            remove_path(tmp)
            if os.path.islink(link_path) and not os.path.exists(final):
                os.unlink(link_path)
            raise
        fsync_dir(self.root)
        return True

    @hookimpl
    def graph_create_rw(self, layer_id: str, parent: str | None, options: dict) -> bool:
        if options:
            raise InvalidArgument(
                f"overlay: storage options {sorted(options)} are not supported for container {layer_id} "
                "(no per-container quota yet); drop --storage-opt"
            )
        return self.graph_create(layer_id, parent)

    @hookimpl
    def graph_remove(self, layer_id: str) -> bool:
        path = self._dir(layer_id)
        if not os.path.lexists(path):
            return True
        with self._lock(layer_id):
            merged = os.path.join(path, "merged")
            if self._refs.get(layer_id) or (os.path.isdir(merged) and is_mountpoint(merged)):
                raise Conflict(f"overlay: cannot remove layer {layer_id}: it is mounted at {merged}")
            link = read_text(os.path.join(path, "link"))
            if link:
                try:
                    os.unlink(os.path.join(self.links, link))
                except FileNotFoundError:
                    pass
            doomed = os.path.join(self.root, f".rm-{layer_id}-{uuid.uuid4().hex[:8]}")
            os.rename(path, doomed)
            remove_path(doomed)
        with self._guard:
            self._locks.pop(layer_id, None)
        return True

    @hookimpl
    def graph_exists(self, layer_id: str) -> bool:
        return os.path.isfile(os.path.join(self._dir(layer_id), "link"))

    # -- mounting -------------------------------------------------------------------------

    @hookimpl
    def graph_mount(self, layer_id: str, mount_label: str) -> str:
        path = self._dir(layer_id)
        with self._lock(layer_id):
            if not os.path.isdir(os.path.join(path, "diff")):
                raise NotFound(f"overlay: cannot mount layer {layer_id}: it does not exist")
            lower = self._lower(layer_id)
            if lower is None:
                self._refs[layer_id] = self._refs.get(layer_id, 0) + 1
                return os.path.join(path, "diff")
            merged = os.path.join(path, "merged")
            if self._refs.get(layer_id, 0) == 0:
                os.makedirs(merged, mode=0o700, exist_ok=True)
                if not is_mountpoint(merged):  # else: left mounted by an earlier daemon; adopt it
                    self._mount(layer_id, lower, mount_label)
            self._refs[layer_id] = self._refs.get(layer_id, 0) + 1
            return merged

    def _mount(self, layer_id: str, lower: str, mount_label: str) -> None:
        label = f',context="{mount_label}"' if mount_label else ""
        lowers = lower.split(":")
        absolute = (f"{self._options}lowerdir={':'.join(os.path.join(self.root, l) for l in lowers)},"
                    f"upperdir={self.root}/{layer_id}/diff,workdir={self.root}/{layer_id}/work{label}")
        merged = os.path.join(self.root, layer_id, "merged")
        try:
            if len(absolute) < self._page - 1:
                _sys_mount("overlay", merged, "overlay", absolute)
                return
            relative = f"{self._options}lowerdir={lower},upperdir={layer_id}/diff,workdir={layer_id}/work{label}"
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

    @hookimpl
    def graph_unmount(self, layer_id: str) -> bool:
        path = self._dir(layer_id)
        with self._lock(layer_id):
            count = self._refs.get(layer_id, 0)
            if count > 1:
                self._refs[layer_id] = count - 1
                return True
            self._refs.pop(layer_id, None)
            merged = os.path.join(path, "merged")
            if count == 1 and os.path.isdir(merged):
                _sys_umount(merged)
                try:
                    # As Docker: removing the mount point also drops copies of the
                    # mount that propagated into other mount namespaces.
                    os.rmdir(merged)
                except OSError:
                    pass
        return True

    def mount_count(self, layer_id: str) -> int:
        """References currently held on ``layer_id`` (for tests and ``inspect``)."""
        with self._lock(layer_id):
            return self._refs.get(layer_id, 0)

    # -- native diffs ----------------------------------------------------------------------

    @hookimpl
    def graph_diff(self, layer_id: str, parent: str | None) -> BinaryIO | None:
        if not self._is_parent(layer_id, parent):
            return None  # the core's naive diff compares the two mounted trees
        upper = os.path.join(self._dir(layer_id), "diff")

        def produce(out: BinaryIO) -> None:
            writer = LayerTarWriter(out)
            for rel, st in walk(upper):
                if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                    writer.add_whiteout(rel)
                    continue
                writer.add(upper, rel, st)
                if stat.S_ISDIR(st.st_mode) and _is_opaque(os.path.join(upper, rel)):
                    writer.add_opaque(rel)
            writer.close()

        return producer_stream(produce, what=f"diff of overlay layer {layer_id}")

    @hookimpl
    def graph_apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int | None:
        if not self._is_parent(layer_id, parent):
            return None
        upper = os.path.join(self._dir(layer_id), "diff")
        return extract_layer(diff, upper, OverlayWhiteouts()).size

    @hookimpl
    def graph_diff_size(self, layer_id: str, parent: str | None) -> int | None:
        if not self._is_parent(layer_id, parent):
            return None
        seen: set[int] = set()
        total = 0
        for _, st in walk(os.path.join(self._dir(layer_id), "diff")):
            if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
        return total

    # -- reporting --------------------------------------------------------------------------

    @hookimpl
    def graph_status(self) -> list[tuple[str, str]]:
        return [
            ("Backing Filesystem", backing_fs_name(self.root)),
            ("Supports d_type", "true"),
            ("Native Overlay Diff", "true"),
            ("userxattr", "false"),
        ]

    @hookimpl
    def graph_metadata(self, layer_id: str) -> dict[str, str]:
        path = self._dir(layer_id)
        if not os.path.isdir(path):
            raise NotFound(f"overlay: layer {layer_id} does not exist")
        meta = {"UpperDir": os.path.join(path, "diff")}
        lower = self._lower(layer_id)
        if lower is not None:
            meta["LowerDir"] = ":".join(os.path.realpath(os.path.join(self.root, l)) for l in lower.split(":"))
            meta["WorkDir"] = os.path.join(path, "work")
            meta["MergedDir"] = os.path.join(path, "merged")
        return meta

    @hookimpl
    def graph_cleanup(self) -> bool:
        with self._guard:
            held = [lid for lid, n in self._refs.items() if n]
        for layer_id in held:
            with self._lock(layer_id):
                self._refs.pop(layer_id, None)
                merged = os.path.join(self.root, layer_id, "merged")
                if os.path.isdir(merged):
                    _sys_umount(merged)
        return True


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False
