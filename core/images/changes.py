"""Comparing two directory trees the way Moby's ``pkg/archive/changes.go`` does.

Used by the naive diff: a layer's changes are what differs between its mounted
tree and its parent's. Directories count as modified only for mode/owner changes
(their size and mtime are not a useful signal, moby#9874), or when something
inside them changed, so a diff carries the directory's metadata along.
"""

from __future__ import annotations

import os
import stat

from berth.hookspecs.types import Change, ChangeKind

_CAPABILITY = "security.capability"


def _scan(path: str) -> dict[str, os.stat_result]:
    with os.scandir(path) as it:
        return {e.name: e.stat(follow_symlinks=False) for e in it}


def _capability(path: str) -> bytes | None:
    try:
        return os.getxattr(path, _CAPABILITY, follow_symlinks=False)
    except OSError:
        return None


def _same_time(a: int, b: int) -> bool:
    # Equal, or equal seconds when one side lost its nanoseconds (a tar round trip)
    return a == b or (a // 1_000_000_000 == b // 1_000_000_000 and (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0))


def stat_different(old: os.stat_result, new: os.stat_result) -> bool:
    """True when an entry present in both trees changed (Moby's ``statDifferent``)."""
    if (old.st_mode, old.st_uid, old.st_gid, old.st_rdev) != (new.st_mode, new.st_uid, new.st_gid, new.st_rdev):
        return True
    if stat.S_ISDIR(new.st_mode):
        return False
    return not _same_time(old.st_mtime_ns, new.st_mtime_ns) or old.st_size != new.st_size


def tree_changes(new_root: str, old_root: str | None) -> list[Change]:
    """Changes that turn the tree ``old_root`` (None: an empty tree) into ``new_root``, sorted by path."""
    changes: list[Change] = []
    _compare(new_root, old_root, "", changes)
    changes.sort()
    return changes


def _compare(new_root: str, old_root: str | None, rel: str, changes: list[Change]) -> None:
    new_dir = os.path.join(new_root, rel) if rel else new_root
    old_dir = (os.path.join(old_root, rel) if rel else old_root) if old_root else None
    new_entries = _scan(new_dir)
    old_entries = _scan(old_dir) if old_dir else {}
    for name in sorted(set(new_entries) | set(old_entries)):
        child = f"{rel}/{name}" if rel else name
        new, old = new_entries.get(name), old_entries.get(name)
        if new is None:
            changes.append(Change("/" + child, ChangeKind.DELETED))
            continue
        mark = len(changes)
        reported = False
        if old is None:
            changes.append(Change("/" + child, ChangeKind.ADDED))
            reported = True
        elif stat_different(old, new) or _capability(os.path.join(new_dir, name)) != _capability(os.path.join(old_dir, name)):
            changes.append(Change("/" + child, ChangeKind.MODIFIED))
            reported = True
        if stat.S_ISDIR(new.st_mode):
            both_dirs = old is not None and stat.S_ISDIR(old.st_mode)
            _compare(new_root, old_root if both_dirs else None, child, changes)
            if len(changes) > mark and not reported:
                # Something inside changed: the directory travels too, before its children
                changes.insert(mark, Change("/" + child, ChangeKind.MODIFIED))


def changes_size(root: str, changes: list[Change]) -> int:
    """Bytes of regular files added or modified, each inode counted once (the layer's diff size)."""
    seen: set[int] = set()
    total = 0
    for change in changes:
        if change.kind is ChangeKind.DELETED:
            continue
        try:
            st = os.lstat(os.path.join(root, change.path.lstrip("/")))
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total
