"""Moving a read-write layer's upper directory into a new image layer (``graph_adopt_diff``).

A build step's layer is its upper directory. Committing it the general way writes
that directory as a tar and extracts the tar into a fresh directory again, which
costs a second copy of every file (one ``symlink(2)``, ``mkdir(2)`` or file write per
entry). Adopting moves the entries instead and then gives them exactly what that
extraction would have: mtimes (and atimes) cut to whole seconds, as a layer tar
carries them, and none of the extended attributes a tar leaves out (overlay's own
bookkeeping, SELinux labels, ACLs) but the opaque-directory mark the diff turns
into ``.wh..wh..opq`` and extraction turns back.

What extraction would refuse or drop (device nodes, sockets, relative symlinks
climbing out of the layer) is never adopted: the driver answers NotSupported and
the engine takes the tar path, which refuses or drops it as always.
"""

from __future__ import annotations

import os
import posixpath
import stat

from berth.driverkit import SKIP_XATTR_PREFIXES, NotSupported, walk
from berth.plugins.graphdrivers.copytree import xattr_names
from berth.plugins.graphdrivers.whiteout import OPAQUE_VALUE, OPAQUE_XATTR, is_whiteout

_SECOND = 1_000_000_000


def _refusal(rel: str, st: os.stat_result) -> str | None:
    """Why a layer tar could not carry entry ``rel`` as it is (None: it can)."""
    mode = st.st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return None if is_whiteout(st) else f"{rel} is a device node"
    if stat.S_ISSOCK(mode):
        return f"{rel} is a socket"
    return None


def _climbs_out(rel: str, target: str) -> bool:
    """A relative symlink target that leaves the layer (extraction refuses those)."""
    if target.startswith("/"):
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(rel) or ".", target))
    return joined == ".." or joined.startswith("../")


def adoptable(upper: str) -> list[tuple[str, os.stat_result]]:
    """Every entry of ``upper`` (parents first); NotSupported when one cannot be adopted as it is."""
    entries = walk(upper)
    for rel, st in entries:
        reason = _refusal(rel, st)
        if reason is None and stat.S_ISLNK(st.st_mode) and _climbs_out(rel, os.readlink(os.path.join(upper, rel))):
            reason = f"{rel} is a symlink out of the layer"
        if reason:
            raise NotSupported(f"cannot adopt the layer's files: {reason}; diff and apply it instead")
    return entries


def _strip_xattrs(path: str, is_dir: bool) -> None:
    """Drop the xattrs a layer tar does not carry (keeping a directory's opaque mark)."""
    for name in xattr_names(path, follow_symlinks=False):
        if not name.startswith(SKIP_XATTR_PREFIXES):
            continue
        if is_dir and name == OPAQUE_XATTR and os.getxattr(path, name, follow_symlinks=False) == OPAQUE_VALUE:
            continue
        os.removexattr(path, name, follow_symlinks=False)


def adopt_upper(source: str, target: str) -> int:
    """Move the entries of upper directory ``source`` into the empty ``target``; return the bytes of
    regular files (each inode once), as extraction reports them."""
    if os.listdir(target):
        raise NotSupported(f"cannot adopt into {target}: it is not empty")
    entries = adoptable(source)
    for name in os.listdir(source):
        os.rename(os.path.join(source, name), os.path.join(target, name))
    size, seen = 0, set()
    for rel, st in entries:
        if is_whiteout(st):
            continue  # extraction makes whiteouts anew: 0/0, mode 0, owned by root, as the kernel's
        path = os.path.join(target, rel)
        _strip_xattrs(path, stat.S_ISDIR(st.st_mode))
        if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
            seen.add(st.st_ino)
            size += st.st_size
        whole = int(st.st_mtime) * _SECOND
        os.utime(path, ns=(whole, whole), follow_symlinks=False)
    return size
