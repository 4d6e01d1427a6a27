"""Writing layer tars from a directory tree, in the OCI layer format.

Shared by the naive diff (a list of changes against a parent) and by drivers
with a native diff (an overlay upper directory). Headers follow Moby's archive
package: PAX format, mtimes truncated to whole seconds, no user/group names, hard
links within one archive written once and then as links, file capabilities and
other xattrs as ``SCHILY.xattr.*`` records.
"""

from __future__ import annotations

import errno
import os
import stat
import tarfile
from typing import BinaryIO

from berth.hookspecs.types import IdMap
from berth.images.tarsafe import WHITEOUT_OPAQUE, WHITEOUT_PREFIX

# Host-specific or driver-private attributes never travel inside a layer.
SKIP_XATTR_PREFIXES = ("trusted.overlay.", "security.selinux", "system.")


def read_xattrs(path: str) -> dict[str, bytes]:
    """Every xattr of ``path`` (not following a final symlink) that belongs in a layer."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return {}
        raise
    out = {}
    for name in sorted(names):
        if name.startswith(SKIP_XATTR_PREFIXES):
            continue
        try:
            out[name] = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP):
                raise
    return out


class LayerTarWriter:
    """Writes entries of one tree into one tar stream; call :meth:`close` to finish the archive."""

    def __init__(self, out: BinaryIO, owner_names: tuple[dict[int, str], dict[int, str]] | None = None,
                 idmap: IdMap | None = None):
        self._tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self._links: dict[tuple[int, int], str] = {}
        #: user and group names by id, for archives that carry them (``cp``, as Docker's); layers carry none
        self._users, self._groups = owner_names or ({}, {})
        #: a remapped container's tree: owners are host ids of this map, the archive carries the container's
        self._idmap = idmap

    def add(self, root: str, rel: str, st: os.stat_result | None = None, arcname: str | None = None) -> None:
        """Add ``root/rel`` (not recursing) under the archive name ``arcname`` (default ``rel``)."""
        path = os.path.join(root, rel) if rel else root
        st = st or os.lstat(path)
        name = rel if arcname is None else arcname
        ti = tarfile.TarInfo(name)
        ti.mode = stat.S_IMODE(st.st_mode)
        ti.uid, ti.gid = (st.st_uid, st.st_gid) if self._idmap is None else self._idmap.as_container(st.st_uid, st.st_gid)
        ti.uname, ti.gname = self._users.get(ti.uid, ""), self._groups.get(ti.gid, "")
        ti.mtime = int(st.st_mtime)
        for key, value in read_xattrs(path).items():
            ti.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
        fmt = stat.S_IFMT(st.st_mode)
        if fmt == stat.S_IFREG:
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:
                ti.type, ti.linkname = tarfile.LNKTYPE, self._links[key]
                self._tar.addfile(ti)
                return
            if st.st_nlink > 1:
                self._links[key] = name
            ti.type, ti.size = tarfile.REGTYPE, st.st_size
            with open(path, "rb", buffering=0) as f:
                self._tar.addfile(ti, f)
            return
        if fmt == stat.S_IFDIR:
            ti.type = tarfile.DIRTYPE
        elif fmt == stat.S_IFLNK:
            ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif fmt == stat.S_IFIFO:
            ti.type = tarfile.FIFOTYPE
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            ti.type = tarfile.CHRTYPE if fmt == stat.S_IFCHR else tarfile.BLKTYPE
            ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        else:
            return  # sockets are not archived (as Docker)
        self._tar.addfile(ti)

    def add_whiteout(self, rel: str) -> None:
        """Record that ``rel`` was deleted (an empty ``.wh.<name>`` file)."""
        head, _, name = rel.rpartition("/")
        self._empty(f"{head}/{WHITEOUT_PREFIX}{name}" if head else WHITEOUT_PREFIX + name)

    def add_opaque(self, rel_dir: str) -> None:
        """Record that directory ``rel_dir`` hides everything below it in lower layers."""
        self._empty(f"{rel_dir}/{WHITEOUT_OPAQUE}" if rel_dir else WHITEOUT_OPAQUE)

    def _empty(self, name: str) -> None:
        # Fixed owner and time (Docker uses "now"): the same change gives the same digest.
        ti = tarfile.TarInfo(name)
        ti.mode, ti.mtime, ti.type = 0o644, 0, tarfile.REGTYPE
        self._tar.addfile(ti)

    def close(self) -> None:
        """Write the end-of-archive blocks (does not close the output stream)."""
        self._tar.close()


def walk(root: str, rel: str = "") -> list[tuple[str, os.stat_result]]:
    """Every entry below ``root/rel`` as (relative path, lstat), parents before children, sorted by path."""
    out: list[tuple[str, os.stat_result]] = []
    stack = [rel]
    while stack:
        cur = stack.pop()
        with os.scandir(os.path.join(root, cur) if cur else root) as it:
            for entry in it:
                child = f"{cur}/{entry.name}" if cur else entry.name
                st = entry.stat(follow_symlinks=False)
                out.append((child, st))
                if stat.S_ISDIR(st.st_mode):
                    stack.append(child)
    out.sort(key=lambda item: item[0])
    return out
