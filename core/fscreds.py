"""Per-thread credentials through ctypes: capability sets and filesystem ids.

The kernel keeps credentials per thread, and glibc changes ``setfsuid``/``setfsgid`` and
``capset`` for the calling thread only; :func:`filesystem_ids` relies on that to act as
another owner in one worker thread of a threaded daemon while the rest goes on as root.
The engine needs it to write into a remapped container's tree (where host root's ids do not
exist), the overlay driver to mount as the remapped root, the native driver for capsets.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from typing import Iterator

libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def check(result: int, what: str) -> int:
    """``result`` of a libc call; -1 becomes OSError with errno and a message naming what was refused."""
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's capability sets (64-bit masks)."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    check(libc.capset(ctypes.byref(header), data), "capset")


def capget() -> tuple[int, int, int]:
    """The calling thread's (effective, permitted, inheritable) capability masks."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    check(libc.capget(ctypes.byref(header), data), "capget")
    eff = data[0].effective | (data[1].effective << 32)
    prm = data[0].permitted | (data[1].permitted << 32)
    inh = data[0].inheritable | (data[1].inheritable << 32)
    return eff, prm, inh


def _set_fs_ids(uid: int, gid: int) -> None:
    libc.setfsgid(ctypes.c_uint(gid))
    libc.setfsuid(ctypes.c_uint(uid))
    # setfsuid reports nothing on failure: read the ids back (-1 changes nothing and returns the current one)
    current = (libc.setfsuid(ctypes.c_uint(0xFFFFFFFF)), libc.setfsgid(ctypes.c_uint(0xFFFFFFFF)))
    if current != (uid, gid):
        raise OSError(1, f"setfsuid/setfsgid to {uid}:{gid} did not take (still {current[0]}:{current[1]})")


@contextlib.contextmanager
def filesystem_ids(uid: int, gid: int) -> Iterator[None]:
    """In this thread, create and own files as ``uid``:``gid`` while keeping every capability.

    Leaving fsuid 0 drops the filesystem capabilities from the effective set; they are raised
    again from the permitted set, so the thread still acts with root's privileges, only under
    another owner (what overlayfs records as the creator of a mount). Restored on exit.
    """
    effective, permitted, inheritable = capget()
    _set_fs_ids(uid, gid)
    try:
        capset(permitted, permitted, inheritable)
        yield
    finally:
        _set_fs_ids(0, 0)
        capset(effective, permitted, inheritable)
