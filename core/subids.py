"""Subordinate id ranges: ``/etc/subuid`` and ``/etc/subgid`` (``subuid(5)``), read and extended safely.

Each line is ``owner:first:count``: ``count`` host ids from ``first`` that ``owner`` (a
user name or uid) may map into user namespaces. berth reads them for ``--userns-remap``
and, for ``--userns-remap default``, adds one range for its own user as dockerd does for
``dockremap``: 65536 ids from the first free multiple past 100000 that overlaps no range
already there. Other owners' lines are never touched, and the file is replaced atomically
while holding the lock shadow-utils' ``useradd``/``usermod`` take (``<file>.lock``,
made by ``link(2)`` of a file naming our pid), so neither tool can interleave a write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from dataclasses import dataclass
from typing import Iterator

from berth.errors import ConfigError
from berth.fsutil import atomic_write

DEFAULT_RANGE_START = 100000
DEFAULT_RANGE_SIZE = 65536
_LOCK_WAIT = 15.0  # seconds; shadow-utils holds its locks for milliseconds


@dataclass(frozen=True)
class SubIdRange:
    owner: str
    first: int
    count: int


def parse(text: str, path: str) -> list[SubIdRange]:
    """Every range of a subordinate id file; a malformed line is a ConfigError naming it."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.strip().split(":")
        try:
            if len(parts) != 3 or not parts[0]:
                raise ValueError
            out.append(SubIdRange(parts[0], int(parts[1]), int(parts[2])))
        except ValueError:
            raise ConfigError(f"{path} line {number}: {line.strip()!r} is not owner:first:count") from None
    return out


def read(path: str) -> list[SubIdRange]:
    """The ranges in ``path`` ([] when it does not exist)."""
    try:
        with open(path, encoding="utf-8") as f:
            return parse(f.read(), path)
    except FileNotFoundError:
        return []


def ranges_of(path: str, name: str, uid: int) -> list[SubIdRange]:
    """The ranges ``path`` gives the user ``name`` (listed by name or by uid), in file order."""
    return [r for r in read(path) if r.owner in (name, str(uid))]


def next_free_start(ranges: list[SubIdRange], size: int = DEFAULT_RANGE_SIZE) -> int:
    """The first start from 100000 up whose ``size`` ids overlap none of ``ranges`` (dockerd's search)."""
    start = DEFAULT_RANGE_START
    for r in sorted(ranges, key=lambda r: r.first):
        if start < r.first + r.count and r.first < start + size:
            start = r.first + r.count
    return start


def add_range(path: str, owner: str, size: int = DEFAULT_RANGE_SIZE) -> SubIdRange:
    """Give ``owner`` a new range in ``path`` (created if missing) unless it has one; return its first range."""
    with _locked(path):
        try:
            with open(path, "rb") as f:
                current = f.read()
            st = os.stat(path)
            mode, owner_ids = st.st_mode & 0o7777, (st.st_uid, st.st_gid)
        except FileNotFoundError:
            current, mode, owner_ids = b"", 0o644, (0, 0)
        ranges = parse(current.decode("utf-8"), path)
        mine = [r for r in ranges if r.owner == owner]
        if mine:
            return mine[0]
        new = SubIdRange(owner, next_free_start(ranges, size), size)
        if current and not current.endswith(b"\n"):
            current += b"\n"
        atomic_write(path, current + f"{new.owner}:{new.first}:{new.count}\n".encode(), mode)
        os.chown(path, *owner_ids)
        return new


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """shadow-utils' lock on ``path``: ``<path>.lock`` linked from a file holding our pid; a stale one
    (its process gone) is removed, a live one waited for."""
    mine, lock = f"{path}.{os.getpid()}", f"{path}.lock"
    with open(mine, "w") as f:
        f.write(str(os.getpid()))
    deadline = time.monotonic() + _LOCK_WAIT
    try:
        while True:
            try:
                os.link(mine, lock)
                break
            except FileExistsError:
                if not _stale(lock) and time.monotonic() > deadline:
                    raise ConfigError(f"{lock} is held by another process (useradd, usermod?); "
                                      "try again, or remove the file if no such tool runs") from None
                time.sleep(0.05)
        try:
            yield
        finally:
            os.unlink(lock)
    finally:
        os.unlink(mine)


def _stale(lock: str) -> bool:
    """Remove ``lock`` when the process it names no longer exists; True if it was removed."""
    try:
        with open(lock, encoding="ascii") as f:
            pid = int(f.read().strip() or "0")
        if pid > 0:
            os.kill(pid, 0)
            return False
    except ProcessLookupError:
        pass
    except FileNotFoundError:
        return True
    except (OSError, ValueError) as exc:
        if getattr(exc, "errno", None) == errno.EPERM:
            return False  # the process exists
    try:
        os.unlink(lock)
    except FileNotFoundError:
        pass
    return True
