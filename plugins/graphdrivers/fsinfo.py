"""What the filesystem under a path is: name from ``statfs`` magic, ``d_type`` support.

Graph drivers report the backing filesystem in ``info`` and refuse hosts where
they cannot work (overlay on overlay, no ``d_type``), so these checks live in one
place.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct

OVERLAYFS_MAGIC = 0x794C7630

# From linux/magic.h (only the ones a data-root is likely to be on)
FS_MAGIC = {
    0xEF53: "extfs", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
    OVERLAYFS_MAGIC: "overlayfs", 0x65735546: "fuse", 0x6969: "nfs", 0x2FC12FC1: "zfs",
    0xCAFE4A11: "bpf", 0xF2F52010: "f2fs", 0xCA451A4E: "bcachefs", 0x858458F6: "ramfs",
    0x73717368: "squashfs", 0x5346544E: "ntfs", 0x4D44: "vfat",
}


class _Statfs(ctypes.Structure):
    # struct statfs on 64-bit Linux: f_type is the first field, a long
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 112)]


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def fs_magic(path: str) -> int:
    """The ``f_type`` of the filesystem holding ``path`` (its nearest existing ancestor)."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    buf = _Statfs()
    if _libc.statfs(os.fsencode(path), ctypes.byref(buf)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"statfs {path}: {os.strerror(err)}")
    return buf.f_type & 0xFFFFFFFF


def backing_fs_name(path: str) -> str:
    """Docker's "Backing Filesystem" value for ``path`` (e.g. "extfs", "xfs", "<unknown>")."""
    try:
        return FS_MAGIC.get(fs_magic(path), "<unknown>")
    except OSError:
        return "<unknown>"


_SYS_getdents64 = 217  # x86_64
_DT_UNKNOWN = 0


def supports_d_type(directory: str) -> bool:
    """True when readdir on ``directory``'s filesystem fills in ``d_type`` (overlay needs it).

    Creates a probe file, reads the directory with ``getdents64`` and looks at the
    type byte of that entry (XFS formatted with ftype=0 reports DT_UNKNOWN).
    """
    probe = os.path.join(directory, ".berth-dtype-probe")
    with open(probe, "w"):
        pass
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            buf = ctypes.create_string_buffer(1 << 16)
            while True:
                n = _libc.syscall(ctypes.c_long(_SYS_getdents64), ctypes.c_long(fd), buf, ctypes.c_long(len(buf)))
                if n < 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"getdents64 {directory}: {os.strerror(err)}")
                if n == 0:
                    return False
                off = 0
                while off < n:
                    _ino, _off, reclen, dtype = struct.unpack_from("QqHB", buf.raw, off)
                    name = buf.raw[off + 19:off + reclen].split(b"\0", 1)[0]
                    if name == b".berth-dtype-probe":
                        return dtype != _DT_UNKNOWN
                    off += reclen
        finally:
            os.close(fd)
    finally:
        os.unlink(probe)


_FS_IOC_GETFLAGS = 0x80086601
_FS_IOC_SETFLAGS = 0x40086602
_FS_TOPDIR_FL = 0x00020000  # chattr +T


def spread_subdirectories(path: str) -> bool:
    """Mark directory ``path`` as the top of independent hierarchies (``chattr +T``) where the filesystem
    knows the flag (ext2/3/4): each new directory in it -- each layer -- then goes to a block group of
    its own choosing instead of its parent's. True when the flag is set.

    Why: ext4 without a journal skips inode numbers freed in the last few seconds, one check per inode
    read from the inode table; a layer made right after another was removed (a pull after ``rmi``,
    a rebuild) used to land in the removed one's group and pay that walk for every file: 300 symlinks
    took ~100 ms instead of ~8. Other filesystems ignore or refuse the flag; nothing else changes.
    """
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        flags = struct.unpack("i", fcntl.ioctl(fd, _FS_IOC_GETFLAGS, bytes(8))[:4])[0]
        if not flags & _FS_TOPDIR_FL:
            fcntl.ioctl(fd, _FS_IOC_SETFLAGS, struct.pack("i", flags | _FS_TOPDIR_FL) + bytes(4))
        return True
    except OSError:  # no such flags here (tmpfs, overlayfs, xfs...)
        return False
    finally:
        os.close(fd)
