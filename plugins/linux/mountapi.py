"""The kernel's new mount API through ctypes: detached trees, id-mapped mounts, mounts built from fds.

``open_tree(OPEN_TREE_CLONE)`` copies a mount (or a subtree of one) into a detached tree
held by a file descriptor; ``mount_setattr(MOUNT_ATTR_IDMAP)`` makes such a tree show its
files' owners through a user namespace's id map (Linux >= 5.12, for filesystems that allow
it: ext4, xfs, btrfs, tmpfs >= 6.3, ... but not overlayfs itself); ``fsopen``/``fsconfig``/
``fsmount`` build a new mount whose layers may be given as descriptors (overlayfs takes
``lowerdir+``, ``upperdir`` and ``workdir`` as fds on Linux >= 6.13, and id-mapped layers
from 5.19); ``move_mount`` attaches a detached tree at a path. The syscall numbers are the
same on every architecture (asm-generic).
"""

from __future__ import annotations

import ctypes
import os

from .libc import check, libc

SYS_OPEN_TREE = 428
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432
SYS_MOUNT_SETATTR = 442

AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x00000004
MOUNT_ATTR_IDMAP = 0x00100000
FSOPEN_CLOEXEC = 1
FSMOUNT_CLOEXEC = 1
FSCONFIG_SET_FLAG = 0
FSCONFIG_SET_STRING = 1
FSCONFIG_SET_FD = 5
FSCONFIG_CMD_CREATE = 6


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def _syscall(number: int, what: str, *args) -> int:
    return check(libc.syscall(ctypes.c_long(number), *args), what)


def open_tree_clone(path: str, dir_fd: int = AT_FDCWD, recursive: bool = True) -> int:
    """open_tree(path, OPEN_TREE_CLONE[|AT_RECURSIVE]): a detached copy of the mount at ``path`` (with the
    mounts below it when ``recursive``, as ``rbind``), as an fd. Unlike a path or an O_PATH descriptor,
    such a tree can be attached in another mount namespace (``move_mount``): that is how a process in a
    container's namespaces binds what only the host could reach.

    ``path`` "" with ``dir_fd`` clones what ``dir_fd`` refers to.
    """
    flags = (OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (AT_RECURSIVE if recursive else 0)
             | (AT_EMPTY_PATH if not path else 0))
    return _syscall(SYS_OPEN_TREE, f"open_tree({path!r})", ctypes.c_int(dir_fd), path.encode(), ctypes.c_uint(flags))


def set_idmap(tree: int, userns_fd: int) -> None:
    """Make the detached tree ``tree`` show owners through the id map of the user namespace ``userns_fd``.

    A file stored with uid ``u`` then appears as the host uid the namespace maps ``u`` to, and a
    file created through the tree by host uid ``h`` is stored as the namespace's id for ``h``.
    """
    attr = _MountAttr(MOUNT_ATTR_IDMAP, 0, 0, userns_fd)
    _syscall(SYS_MOUNT_SETATTR, "mount_setattr(MOUNT_ATTR_IDMAP)", ctypes.c_int(tree), b"",
             ctypes.c_uint(AT_EMPTY_PATH), ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))


def idmapped_tree(path: str, userns_fd: int) -> int:
    """A detached, id-mapped copy of the directory ``path`` (see :func:`set_idmap`), as an fd."""
    tree = open_tree_clone(path)
    try:
        set_idmap(tree, userns_fd)
    except OSError as exc:
        os.close(tree)
        raise OSError(exc.errno, f"id-mapping {path}: {exc.strerror}") from None
    return tree


def move_mount_to(fd: int, target: str) -> None:
    """move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH): attach a detached tree at ``target``."""
    _syscall(SYS_MOVE_MOUNT, f"move_mount to {target!r}", ctypes.c_int(fd), b"", ctypes.c_int(AT_FDCWD),
             target.encode(), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH))


class FsContext:
    """A filesystem being configured with fsopen/fsconfig; :meth:`mount` returns the new mount's fd.

    Close it (or use ``with``) once done; the mount fd must be attached (:func:`move_mount_to`)
    and closed by the caller.
    """

    def __init__(self, fstype: str):
        self.fstype = fstype
        self.fd = _syscall(SYS_FSOPEN, f"fsopen({fstype!r})", fstype.encode(), ctypes.c_uint(FSOPEN_CLOEXEC))

    def _config(self, cmd: int, key: str | None, value, aux: int, what: str) -> None:
        _syscall(SYS_FSCONFIG, f"{self.fstype}: {what}", ctypes.c_int(self.fd), ctypes.c_uint(cmd),
                 key.encode() if key is not None else None, value, ctypes.c_int(aux))

    def set_string(self, key: str, value: str) -> None:
        self._config(FSCONFIG_SET_STRING, key, value.encode(), 0, f"{key}={value}")

    def set_fd(self, key: str, fd: int) -> None:
        self._config(FSCONFIG_SET_FD, key, None, fd, f"{key} (a file descriptor)")

    def mount(self) -> int:
        """Create the superblock and return a detached mount of it."""
        self._config(FSCONFIG_CMD_CREATE, None, None, 0, "creating the filesystem")
        return _syscall(SYS_FSMOUNT, f"fsmount({self.fstype!r})", ctypes.c_int(self.fd),
                        ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(0))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "FsContext":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
