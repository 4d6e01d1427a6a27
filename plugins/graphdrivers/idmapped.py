"""Id-mapped views of layers for the built-in graph drivers (``graph_mount_idmapped``).

A view never copies or chowns anything: layers stay stored with container ids, and the
kernel shifts owners as they are looked at (``mount_setattr(MOUNT_ATTR_IDMAP)``, Linux
>= 5.12 on ext4, xfs, btrfs, and tmpfs from 6.3).

- A single directory (every vfs layer, an overlay base layer) gets an id-mapped bind
  mount of itself.
- A stacked overlay layer gets an overlayfs whose lower layers, upper and work directories
  are id-mapped copies of the layer directories, handed to the kernel as file descriptors
  (``lowerdir+``/``upperdir``/``workdir`` by fd: Linux >= 6.13; id-mapped layers as such
  are accepted from 5.19). overlayfs does its own writes (copy-up, whiteouts, the work
  directory) with the credentials of whoever mounted it, and through an id-mapped upper
  layer those credentials must be mapped: the mount is made as the map's root
  (:func:`berth.fscreds.filesystem_ids`), so those files land on disk owned
  by container root, like the container's own.

The container's init (the map's root, without host privileges) walks from ``/`` to the
view to mount its filesystems: :func:`open_to_map_root` lets the map's root group search
the driver's directories on that path, and nobody else (Docker sets the same 0710 modes).
"""

from __future__ import annotations

import os
import tempfile

from berth.driverkit import fscreds as creds, remove_path
from berth.hookspecs.types import IdMap
from berth.plugins.graphdrivers.mounts import sys_umount
from berth.plugins.linux import mountapi, userns


def open_to_map_root(idmap: IdMap, *directories: str) -> None:
    """Let the map's root group search ``directories`` (root:<gid> 0710); their owner stays root."""
    gid = idmap.root[1]
    for path in directories:
        st = os.stat(path)
        if st.st_gid != gid or st.st_mode & 0o7777 != 0o710:
            os.chown(path, 0, gid)
            os.chmod(path, 0o710)


def bind_idmapped(source: str, target: str, idmap: IdMap) -> None:
    """Mount ``source`` on ``target`` showing its owners through ``idmap``."""
    tree = mountapi.idmapped_tree(source, userns.namespace_fd(idmap))
    try:
        mountapi.move_mount_to(tree, target)
    finally:
        os.close(tree)


def mount_overlay_idmapped(target: str, lowers: list[str], layer_dir: str, idmap: IdMap,
                           options: list[tuple[str, str]]) -> None:
    """overlayfs on ``target``: ``lowers`` (nearest first) under ``layer_dir``'s ``diff``, all through ``idmap``.

    ``layer_dir`` holds the ``diff`` (upper) and ``work`` directories; ``options`` are
    overlayfs mount options as (key, value) pairs.
    """
    namespace = userns.namespace_fd(idmap)
    fds: list[int] = []
    try:
        with creds.filesystem_ids(*idmap.root), mountapi.FsContext("overlay") as fs:
            for key, value in options:
                fs.set_string(key, value)
            for lower in lowers:
                fds.append(mountapi.idmapped_tree(lower, namespace))
                fs.set_fd("lowerdir+", fds[-1])
            fds.append(mountapi.idmapped_tree(layer_dir, namespace))
            layer = fds[-1]
            for key, name in (("upperdir", "diff"), ("workdir", "work")):
                fds.append(os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=layer))
                fs.set_fd(key, fds[-1])
            fds.append(fs.mount())
        mountapi.move_mount_to(fds[-1], target)
    finally:
        for fd in fds:
            os.close(fd)


# ---------------------------------------------------------------------------
# probes (graph_idmap_check)
# ---------------------------------------------------------------------------


def check_bind(root: str, idmap: IdMap) -> str | None:
    """None when an id-mapped bind mount of a directory under ``root`` shows the map, else why not."""
    work = tempfile.mkdtemp(prefix=".probe-idmap-", dir=root)
    try:
        # "merged", as overlay's own probe names its mount point: a crash leaves what cleanup_leftovers removes
        source, view = os.path.join(work, "source"), os.path.join(work, "merged")
        os.mkdir(source)
        os.mkdir(view)
        try:
            bind_idmapped(source, view, idmap)
        except OSError as exc:
            return f"the kernel cannot id-map a mount of {root}'s filesystem: {exc} (needs Linux >= 5.12 and a " \
                   "filesystem that allows id-mapped mounts: ext4, xfs, btrfs, tmpfs >= 6.3)"
        try:
            shown = os.stat(view).st_uid
        finally:
            sys_umount(view)
        if shown != idmap.root[0]:
            return f"an id-mapped mount under {root} showed uid {shown} for a root-owned directory, not {idmap.root[0]}"
        return None
    finally:
        remove_path(work)


def check_overlay(root: str, idmap: IdMap, options: list[tuple[str, str]]) -> str | None:
    """None when overlayfs accepts id-mapped layers as fds under ``root`` and stores a new file with
    container ids, else why not."""
    work = tempfile.mkdtemp(prefix=".probe-idmap-", dir=root)
    try:
        lower, layer, merged = (os.path.join(work, n) for n in ("lower", "layer", "merged"))
        for path in (lower, layer, os.path.join(layer, "diff"), os.path.join(layer, "work"), merged):
            os.mkdir(path)
        try:
            mount_overlay_idmapped(merged, [lower], layer, idmap, options)
        except OSError as exc:
            return (f"overlayfs cannot be mounted on id-mapped layers here: {exc} (needs Linux >= 6.13 for layers "
                    "given as file descriptors)")
        try:
            with creds.filesystem_ids(*idmap.root):
                os.close(os.open(os.path.join(merged, "probe"), os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        except OSError as exc:
            return f"a file cannot be created through an id-mapped overlayfs: {exc}"
        finally:
            sys_umount(merged)
        stored = os.lstat(os.path.join(layer, "diff", "probe")).st_uid
        if stored != 0:
            return f"a file the map's root created through an id-mapped overlayfs was stored as uid {stored}, not 0"
        return None
    finally:
        remove_path(work)
