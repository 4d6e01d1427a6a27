"""User namespaces that hold an id map: written for a process, or kept as a descriptor for id-mapped mounts.

A user namespace's maps are written once, from outside, by a process with CAP_SETUID and
CAP_SETGID over its parent (the daemon or a monitor, as root): ``/proc/<pid>/uid_map`` then
``gid_map``. ``setgroups`` is left allowed, so the container's processes may set their
supplementary groups. An id-mapped mount needs only the namespace, not a process in it:
:func:`namespace_fd` makes one with a short-lived child and keeps its descriptor, one per map.
"""

from __future__ import annotations

import ctypes
import os
import threading

from berth.hookspecs.types import IdMap

from .libc import libc as _libc
CLONE_NEWUSER = 0x10000000

_fds: dict[IdMap, int] = {}
_fds_lock = threading.Lock()


def write_maps(pid: int, idmap: IdMap) -> None:
    """Give the (new, unmapped) user namespace of ``pid`` the maps of ``idmap``."""
    for name, text in (("uid_map", idmap.proc_text("uid")), ("gid_map", idmap.proc_text("gid"))):
        path = f"/proc/{pid}/{name}"
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, text.encode())  # one write: the kernel takes a map whole or not at all
        except OSError as exc:
            raise OSError(exc.errno, f"writing {path} ({text.strip()!r}): {exc.strerror}") from None
        finally:
            os.close(fd)


def namespace_fd(idmap: IdMap) -> int:
    """A descriptor of a user namespace mapping ids as ``idmap`` does (made once per map, then kept).

    The namespace lives as long as the descriptor, which is never closed: mounts made with it
    hold their own reference, and a daemon uses one or two maps for its whole life.
    """
    with _fds_lock:
        fd = _fds.get(idmap)
        if fd is None:
            fd = _fds[idmap] = _new_namespace(idmap)
        return fd


def _new_namespace(idmap: IdMap) -> int:
    """Fork a child that unshares a user namespace and waits; map it, keep its namespace, let it go."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    child = os.fork()
    if child == 0:  # only syscalls from here: the parent may be threaded
        os.close(ready_r)
        os.close(done_w)  # or the wait for the parent's close below never ends
        code = 0 if _libc.unshare(ctypes.c_int(CLONE_NEWUSER)) == 0 else 1
        os.write(ready_w, bytes([code]))
        os.read(done_r, 1)
        os._exit(code)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"\0":
            raise OSError("cannot create a user namespace (unshare(CLONE_NEWUSER) failed; is "
                          "user.max_user_namespaces 0 or a security policy refusing it?)")
        write_maps(child, idmap)
        return os.open(f"/proc/{child}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(child, 0)
