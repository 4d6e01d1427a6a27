"""Resolve ``-u user[:group]`` against the container's own /etc/passwd and /etc/group.

Docker's rules: a number is used as-is (even if absent from passwd); a name must
exist; the primary group comes from passwd unless ``:group`` is given; the
supplementary groups are every group that lists the user. Files are read
without following symlinks, so an image cannot point them at the host.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from berth.errors import InvalidArgument


@dataclass
class ExecUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def read_in_root(root: str, path: str) -> str | None:
    """Read ``path`` inside ``root`` walking with O_NOFOLLOW; None if absent or not a plain path."""
    parts = [p for p in path.split("/") if p]
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (0 if last else os.O_DIRECTORY)
            try:
                nfd = os.open(part, flags, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = nfd
        with os.fdopen(fd, encoding="utf-8", errors="replace") as f:
            fd = -1
            return f.read(4 * 1024 * 1024)
    finally:
        if fd >= 0:
            os.close(fd)


def _entries(text: str | None) -> list[list[str]]:
    return [line.split(":") for line in (text or "").splitlines() if line and not line.startswith("#")]


def resolve_user(root: str, spec: str, group_add: list[str] | None = None) -> ExecUser:
    """Turn ``user``, ``uid``, ``user:group`` or ``uid:gid`` into numeric ids for the container at ``root``;
    ``group_add`` (``--group-add``) adds supplementary groups by name or number."""
    user_part, _, group_part = (spec or "").partition(":")
    passwd = _entries(read_in_root(root, "/etc/passwd"))
    groups = _entries(read_in_root(root, "/etc/group"))
    result = ExecUser()
    name = ""
    if user_part:
        match = next((p for p in passwd if len(p) >= 7 and (p[0] == user_part or p[2] == user_part)), None)
        if match:
            name, result.uid, result.gid, result.home = match[0], int(match[2]), int(match[3]), match[5] or "/"
        elif user_part.isdigit():
            result.uid, result.gid = int(user_part), 0
        else:
            raise InvalidArgument(f"unable to find user {user_part}: no matching entries in passwd file")
    else:
        root_entry = next((p for p in passwd if len(p) >= 7 and p[2] == "0"), None)
        name, result.home = "root", (root_entry[5] if root_entry else "/root")
    if group_part:
        match = next((g for g in groups if len(g) >= 3 and (g[0] == group_part or g[2] == group_part)), None)
        if match:
            result.gid = int(match[2])
        elif group_part.isdigit():
            result.gid = int(group_part)
        else:
            raise InvalidArgument(f"unable to find group {group_part}: no matching entries in group file")
    # Docker's order: the primary group, the groups that list the user, then --group-add
    result.additional_gids = [result.gid]
    if name:
        result.additional_gids += sorted({int(g[2]) for g in groups
                                          if len(g) >= 4 and name in g[3].split(",") and int(g[2]) != result.gid})
    for gid in additional_groups(groups, group_add or []):
        if gid not in result.additional_gids:
            result.additional_gids.append(gid)
    return result


def owner_names(root: str) -> tuple[dict[int, str], dict[int, str]]:
    """The container's user and group names by id (from its ``/etc/passwd`` and ``/etc/group``),
    the names Docker writes into the tars of ``cp``."""
    def by_id(path: str) -> dict[int, str]:
        names: dict[int, str] = {}
        for entry in _entries(read_in_root(root, path)):
            if len(entry) >= 3 and entry[2].isdigit():
                names.setdefault(int(entry[2]), entry[0])
        return names

    return by_id("/etc/passwd"), by_id("/etc/group")


def additional_groups(groups: list[list[str]], wanted: list[str]) -> list[int]:
    """``--group-add`` values as gids: a group of the container's /etc/group by name (or gid), else a number."""
    out = []
    for item in wanted:
        match = next((g for g in groups if len(g) >= 3 and (g[0] == item or g[2] == item)), None)
        if match:
            out.append(int(match[2]))
        elif item.isdigit() and int(item) < 2**31:
            out.append(int(item))
        else:
            raise InvalidArgument(f"Unable to find group {item}: no matching entries in group file")
    return out
