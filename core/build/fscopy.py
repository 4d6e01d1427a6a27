"""File work inside a layer's tree for COPY, ADD and WORKDIR, confined to that tree.

Paths inside the image are resolved the way the container would see them, by
:func:`berth.images.scope.resolve_in_root`: symlinks are followed, but an absolute
link target or ``..`` never leaves the tree. Nothing here follows a symlink of the host.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from dataclasses import dataclass

from berth.errors import InvalidArgument
from berth.images.scope import clean, resolve_in_root


def mkdir_all(root: str, path: str, uid: int = 0, gid: int = 0, mode: int = 0o755) -> str:
    """``mkdir -p`` of ``path`` inside ``root``; new directories get ``uid:gid``. Returns the host path."""
    parts = [p for p in clean(path).split("/") if p]
    current = "/"
    for part in parts:
        current = posixpath.join(current, part)
        host = resolve_in_root(root, current)
        if os.path.isdir(host):
            continue
        if os.path.lexists(host):
            raise InvalidArgument(f"cannot create directory {current!r} in the image: a file is in the way")
        os.mkdir(host, mode)
        os.chmod(host, mode)  # the umask must not narrow it
        os.lchown(host, uid, gid)
    return resolve_in_root(root, path)


@dataclass
class Owner:
    """Who copied files belong to (``--chown``), and an optional ``--chmod`` mode."""

    uid: int = 0
    gid: int = 0
    mode: int | None = None


def _copy_entry(src: str, dst: str, owner: Owner) -> None:
    st = os.lstat(src)
    if os.path.lexists(dst) and not (stat.S_ISDIR(st.st_mode) and os.path.isdir(dst) and not os.path.islink(dst)):
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        else:
            os.unlink(dst)
    if stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(src), dst)
        os.lchown(dst, owner.uid, owner.gid)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    if stat.S_ISDIR(st.st_mode):
        if not os.path.isdir(dst):
            os.mkdir(dst)
    elif stat.S_ISREG(st.st_mode):
        shutil.copyfile(src, dst, follow_symlinks=False)
    elif stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        os.mknod(dst, st.st_mode, st.st_rdev)
    else:
        return  # sockets cannot be copied; Docker skips them too
    os.lchown(dst, owner.uid, owner.gid)
    os.chmod(dst, owner.mode if owner.mode is not None else stat.S_IMODE(st.st_mode))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_tree(src: str, dst: str, owner: Owner) -> None:
    """Copy ``src`` (a file, symlink or directory's *contents*) to the host path ``dst``."""
    if os.path.isdir(src) and not os.path.islink(src):
        if not os.path.isdir(dst):
            if os.path.lexists(dst):
                os.unlink(dst)
            os.mkdir(dst)
            st = os.lstat(src)
            os.lchown(dst, owner.uid, owner.gid)
            os.chmod(dst, owner.mode if owner.mode is not None else stat.S_IMODE(st.st_mode))
        dir_times = []
        for current, dirs, files in os.walk(src):
            rel = os.path.relpath(current, src)
            target_dir = dst if rel == "." else os.path.join(dst, rel)
            for name in sorted(dirs):
                _copy_entry(os.path.join(current, name), os.path.join(target_dir, name), owner)
                if not os.path.islink(os.path.join(current, name)):
                    dir_times.append((os.path.join(current, name), os.path.join(target_dir, name)))
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(current, d))]
            for name in sorted(files):
                _copy_entry(os.path.join(current, name), os.path.join(target_dir, name), owner)
        for s, d in reversed(dir_times):  # after their content was written
            st = os.lstat(s)
            os.utime(d, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    _copy_entry(src, dst, owner)


def copy_into(root: str, sources: list[str], dest: str, workdir: str, owner: Owner, cmd: str) -> None:
    """Docker's COPY rule: a directory source copies its contents; a file lands in ``dest`` when it is
    (or is spelled as) a directory, else becomes ``dest``. Several sources need a ``dest`` ending in ``/``."""
    dest_path = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    dir_spelled = dest.endswith("/") or dest in (".", "") or dest.endswith("/.")
    if len(sources) > 1 and not dir_spelled:
        raise InvalidArgument(f"When using {cmd} with more than one source file, the destination must be a "
                              f"directory and end with a /")
    host_dest = resolve_in_root(root, dest_path)
    for src in sources:
        if os.path.isdir(src) and not os.path.islink(src):
            mkdir_all(root, dest_path, owner.uid, owner.gid)
            copy_tree(src, resolve_in_root(root, dest_path), owner)
            continue
        if dir_spelled or os.path.isdir(host_dest):
            directory = mkdir_all(root, dest_path, owner.uid, owner.gid)
            target = os.path.join(directory, os.path.basename(src.rstrip("/")))
        else:
            parent = posixpath.dirname(posixpath.normpath(dest_path)) or "/"
            mkdir_all(root, parent)
            target = resolve_in_root(root, dest_path, follow_final=False)
        copy_tree(src, target, owner)
