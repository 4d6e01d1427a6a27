"""Small filesystem helpers shared by the engine and the drivers.

State files are written with :func:`atomic_write` so a crash leaves either the old
or the new content, never a torn file (temp file in the same directory, fsync,
rename, fsync of the directory).

Inside :func:`deferred_sync` those fsyncs are skipped: work that writes many files
(a pull's layers) makes them durable at once with one :func:`sync_filesystem`
before it records anything that depends on them. A process crash loses nothing
either way (the page cache survives it); only a machine crash before that one
flush can, and then nothing refers to the unflushed files yet.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import errno
import json
import os
import shutil
import stat as stat_mod
import tempfile
from typing import Any, Iterator

_DEFERRED = contextvars.ContextVar("berth_deferred_sync", default=False)


@contextlib.contextmanager
def deferred_sync() -> Iterator[None]:
    """Skip the fsyncs of :func:`atomic_write`, :func:`fsync_dir` and :func:`durable` writes in this block
    (this thread or task); the caller calls :func:`sync_filesystem` before anything depends on them."""
    token = _DEFERRED.set(True)
    try:
        yield
    finally:
        _DEFERRED.reset(token)


def durable() -> bool:
    """False inside :func:`deferred_sync`: a write may skip its own fsync (a later syncfs covers it)."""
    return not _DEFERRED.get()


def sync_filesystem(path: str) -> None:
    """Flush every dirty page of the filesystem holding ``path`` to disk.

    One ``syncfs(2)`` costs a few ms where an fsync per written file costs one
    journal commit each; ``sync(2)`` when libc has no syncfs.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """Flush a directory's entries (a rename or create in it) to disk (deferred inside :func:`deferred_sync`)."""
    if not durable():
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o644, *, sync: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically, with permission bits ``mode``.

    The temp file lives in the same directory (so ``os.replace`` is a rename on one
    filesystem) and is removed if anything fails before the rename. ``sync=False``
    skips the fsyncs, for files written afresh before every use (a container's /etc
    files and OCI spec at each start), where a crash of the machine loses nothing.
    """
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), mode)
            if sync and durable():
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if sync:
        fsync_dir(directory)


def atomic_write_json(path: str, obj: Any, mode: int = 0o644) -> None:
    """:func:`atomic_write` of ``obj`` as compact, key-sorted JSON (stable bytes for digests)."""
    atomic_write(path, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(), mode)


def read_text(path: str, default: str | None = None) -> str | None:
    """The stripped content of a small text file, or ``default`` when it does not exist."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def makedirs(path: str, mode: int = 0o700) -> str:
    """``os.makedirs(exist_ok=True)`` that returns the path (for one-line set-up)."""
    os.makedirs(path, mode=mode, exist_ok=True)
    return path


def remove_path(path: str) -> None:
    """Remove a file, symlink or whole directory tree; a missing path is not an error.

    Directory trees are removed with :func:`shutil.rmtree`'s fd-based walk, which
    never follows a symlink out of the tree.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat_mod.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise


def is_mountpoint(path: str) -> bool:
    """True when ``path`` is a mount point according to /proc/self/mountinfo.

    ``os.path.ismount`` misses bind mounts of a directory onto itself (same device);
    mountinfo does not.
    """
    real = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            for line in f:
                fields = line.split(" ")
                if len(fields) > 4 and unescape_mountinfo(fields[4]) == real:
                    return True
    except FileNotFoundError:
        return os.path.ismount(path)
    return False


def mount_of(path: str) -> tuple[str, list[str]]:
    """The mount point under which ``path`` lies (``path`` itself when it is one) and that mount's
    optional mountinfo fields (``shared:N``, ``master:N``: how it takes part in propagation)."""
    real = os.path.realpath(path)
    best, optional = "/", []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split(" ")
            point = unescape_mountinfo(fields[4])
            inside = real == point or real.startswith(point.rstrip("/") + "/")
            if inside and len(point) >= len(best):
                best, optional = point, fields[6:fields.index("-")]
    return best, optional


def unescape_mountinfo(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo octal
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def unix_connect(path: str):
    """Connect to a unix socket whose path may exceed the 108-byte ``sun_path`` limit.

    Deep data-roots (tests, custom ``--exec-root``) make socket paths long; going
    through ``/proc/self/fd/<dirfd>/name`` keeps the address short.
    """
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(path.encode()) < 100:
            sock.connect(path)
            return sock
        dirfd = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            sock.connect(f"/proc/self/fd/{dirfd}/{os.path.basename(path)}")
        finally:
            os.close(dirfd)
        return sock
    except BaseException:
        sock.close()
        raise
