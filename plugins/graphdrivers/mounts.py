"""mount(2) and umount2(2) through libc, for the graph drivers that mount (overlay, fuse-overlay).

The drivers run as root in the daemon; calling the syscalls directly avoids a
``mount(8)`` process per container start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def sys_mount(source: str, target: str, fstype: str, data: str) -> None:
    """``mount -t fstype -o data source target``; OSError names the target on failure."""
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(0), data.encode()) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def sys_umount(target: str, flags: int = MNT_DETACH) -> None:
    """Unmount ``target`` (lazily by default); a target that is not mounted is not an error."""
    if _libc.umount2(target.encode(), flags) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not mounted
            raise OSError(err, f"unmount {target}: {os.strerror(err)}")


def mounts_under(prefix: str) -> list[str]:
    """Mount points below ``prefix`` in this mount namespace, in mount order (unmount them reversed)."""
    prefix = os.path.realpath(prefix) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split(" ")[4].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]
