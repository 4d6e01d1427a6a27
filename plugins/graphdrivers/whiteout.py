"""Overlay's on-disk whiteout format, shared by the ``overlay`` and ``fuse-overlay`` drivers.

A layer's ``diff`` directory marks what it hides in lower layers the way the
kernel's overlayfs does:

* a deleted path is a character device with device number 0/0 at that name;
* a directory whose lower contents are hidden carries the xattr
  ``trusted.overlay.opaque = "y"``.

This module imports nothing but the standard library: the fuse-overlay serving
process uses it, and must start fast.
"""

from __future__ import annotations

import errno
import os
import stat

OPAQUE_XATTR = "trusted.overlay.opaque"
OPAQUE_VALUE = b"y"
PRIVATE_XATTR_PREFIX = "trusted.overlay."  # driver-private: never shown through a mount, never copied up


def is_whiteout(st: os.stat_result) -> bool:
    """True when ``st`` (an lstat result) is an overlay whiteout: a 0/0 character device."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str | int) -> bool:
    """True when directory ``path`` (a path, not followed if a symlink, or an open fd) is opaque."""
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=isinstance(path, int)) == OPAQUE_VALUE
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT, errno.ENOTDIR):
            return False
        raise


def set_opaque(path: str | int) -> None:
    """Mark directory ``path`` (a path or an open fd) opaque."""
    os.setxattr(path, OPAQUE_XATTR, OPAQUE_VALUE, follow_symlinks=isinstance(path, int))


def make_whiteout(parent_fd: int, name: str, uid: int = 0, gid: int = 0) -> None:
    """Create a whiteout ``name`` in the directory open as ``parent_fd`` (the name must be free)."""
    os.mknod(name, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent_fd)
    os.chown(name, uid, gid, dir_fd=parent_fd, follow_symlinks=False)
