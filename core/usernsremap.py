"""``berthd --userns-remap``: which host ids a container's root and users become, and where their state lives.

As dockerd (``daemon_unix.go`` ``parseRemappedRoot``/``setupRemappedRoot``/``setupDaemonRoot``):

- the value is ``USER``, ``USER:GROUP``, ``UID`` or ``UID:GID`` (checked against passwd and
  group), or ``default``: berth's own system user ``berthremap`` (dockerd's ``dockremap``),
  created with ``useradd`` and given 65536 subordinate ids in both files when it has none;
- the id map comes from the *user's* lines in ``/etc/subuid`` and ``/etc/subgid``; several
  ranges map to consecutive container ids; ``root`` cannot be remapped onto itself (a
  warning, and no remapping);
- everything the daemon stores moves to ``<data-root>/<uid>.<gid>`` (the host ids of the
  container's root), owned root:<gid> 0710 so that the remapped root can reach its rootfs
  and nobody else can; the top data-root becomes 0711. A daemon started on the same
  data-root without remapping keeps using the top tree: the trees stay apart, as in Docker.
- the subtree remembers the map it was written with (``userns-remap.json``): starting it
  with other ranges is refused, since its volumes' files belong to the old ones.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import subprocess
from dataclasses import dataclass

from berth import log, subids
from berth.errors import ConfigError
from berth.fsutil import atomic_write
from berth.hookspecs.types import IdMap, IdRange

DEFAULT_SPECIFIER = "default"
DEFAULT_USER = "berthremap"
MARKER = "userns-remap.json"


@dataclass(frozen=True)
class Remapping:
    """The resolved setting: the user and group it names, and the map containers get."""

    user: str
    group: str
    idmap: IdMap

    @property
    def tree_name(self) -> str:
        """``<uid>.<gid>``: the data-root subdirectory of this remapping (the host ids of container root)."""
        uid, gid = self.idmap.root
        return f"{uid}.{gid}"


@dataclass(frozen=True)
class HostFiles:
    """Where users and subordinate ids are read (tests point these elsewhere; the daemon uses /etc)."""

    subuid: str = "/etc/subuid"
    subgid: str = "/etc/subgid"


def resolve(value: str, files: HostFiles = HostFiles()) -> Remapping | None:
    """The remapping ``value`` asks for (None for "" or for root, which dockerd declines with a warning)."""
    if not value:
        return None
    user, group = _user_and_group(value, files)
    if user == "root":
        log.get().warning("userns.remap_off", reason="root cannot be remapped with itself; user namespaces are OFF")
        return None
    try:
        idmap = load_idmap(user, files)
    except ConfigError as exc:
        raise ConfigError(f"error creating ID mappings: {exc.message}") from None
    log.get().info("userns.remap", user=user, group=group, uid_map=idmap.proc_text("uid").strip(),
                   gid_map=idmap.proc_text("gid").strip())
    return Remapping(user, group, idmap)


def _user_and_group(value: str, files: HostFiles) -> tuple[str, str]:
    """dockerd's ``parseRemappedRoot``: names checked against passwd/group; ``default`` creates berthremap."""
    parts = value.split(":")
    if len(parts) > 2 or not parts[0]:
        raise ConfigError(f"Invalid user/group specification in --userns-remap: {value!r}")
    if parts[0].isdigit():
        uid = int(parts[0])
        user = _lookup(pwd.getpwuid, uid, f"Uid {uid} has no entry in /etc/passwd").pw_name
        group = _lookup(grp.getgrgid, uid, f"Gid {uid} has no entry in /etc/group").gr_name if len(parts) == 1 else ""
    elif parts[0] == DEFAULT_SPECIFIER:
        user = group = ensure_default_user(files)
    else:
        user = _lookup(pwd.getpwnam, parts[0], f"Error during uid lookup for {parts[0]!r}").pw_name
        group = _lookup(grp.getgrnam, parts[0], f"Error during gid lookup for {parts[0]!r}").gr_name \
            if len(parts) == 1 else ""
    if len(parts) == 2:
        lookup = (grp.getgrgid, int(parts[1])) if parts[1].isdigit() else (grp.getgrnam, parts[1])
        group = _lookup(*lookup, f"Error during groupname lookup for {parts[1]!r}").gr_name
    return user, group


def _lookup(fn, key, message: str):
    try:
        return fn(key)
    except KeyError:
        raise ConfigError(f"{message}: no such entry") from None


def ensure_default_user(files: HostFiles) -> str:
    """berth's ``berthremap`` system user and group, and a subordinate range in each file, made when absent."""
    try:
        pwd.getpwnam(DEFAULT_USER)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", DEFAULT_USER]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"Error during {DEFAULT_USER!r} user creation: {exc}") from None
        if done.returncode != 0:
            raise ConfigError(f"Error during {DEFAULT_USER!r} user creation: {' '.join(command)} failed: "
                              f"{done.stderr.strip() or done.returncode}")
        log.get().info("userns.user_created", user=DEFAULT_USER)
    for path in (files.subuid, files.subgid):
        added = subids.add_range(path, DEFAULT_USER)
        log.get().info("userns.subids", file=path, owner=added.owner, first=added.first, count=added.count)
    return DEFAULT_USER


def load_idmap(user: str, files: HostFiles = HostFiles()) -> IdMap:
    """The map ``user``'s subordinate ranges give (both files are read by user, as dockerd does)."""
    uid = _lookup(pwd.getpwnam, user, f"could not get user for username {user}").pw_uid

    def ranges(path: str, kind: str) -> tuple[IdRange, ...]:
        found = subids.ranges_of(path, user, uid)
        if not found:
            raise ConfigError(f"no {kind} ranges found for user {user!r} in {path}")
        out, next_id = [], 0
        for r in found:
            out.append(IdRange(next_id, r.first, r.count))
            next_id += r.count
        return tuple(out)

    return IdMap(ranges(files.subuid, "subuid"), ranges(files.subgid, "subgid"))


def prepare_tree(data_root: str, remapping: Remapping) -> str:
    """Create (or check) ``<data-root>/<uid>.<gid>`` for ``remapping``; return its path."""
    uid, gid = remapping.idmap.root
    os.makedirs(data_root, mode=0o711, exist_ok=True)
    os.chmod(data_root, 0o711)  # the remapped root must pass through it to reach its tree
    tree = os.path.join(data_root, remapping.tree_name)
    os.makedirs(tree, mode=0o710, exist_ok=True)
    os.chown(tree, 0, gid)
    os.chmod(tree, 0o710)
    _check_marker(tree, remapping)
    _check_reachable(tree, uid, gid)
    return tree


def _check_marker(tree: str, remapping: Remapping) -> None:
    """The tree remembers its map; another map on the same tree is refused (its files are the old map's)."""
    path = os.path.join(tree, MARKER)
    wanted = {"remap": f"{remapping.user}:{remapping.group}", **remapping.idmap.oci()}
    try:
        with open(path, encoding="utf-8") as f:
            remembered = json.load(f)
    except FileNotFoundError:
        atomic_write(path, json.dumps(wanted, indent=1).encode(), 0o600)
        return
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if {k: remembered.get(k) for k in ("uidMappings", "gidMappings")} != remapping.idmap.oci():
        raise ConfigError(
            f"data-root tree {tree} was written with --userns-remap {remembered.get('remap')!r} mapping "
            f"uids {_show(remembered.get('uidMappings'))} and gids {_show(remembered.get('gidMappings'))}, but "
            f"{remapping.user!r} now maps uids {_show(remapping.idmap.oci()['uidMappings'])} and gids "
            f"{_show(remapping.idmap.oci()['gidMappings'])}; its volumes and containers belong to the old ranges. "
            "Restore the old ranges in /etc/subuid and /etc/subgid, or use another --data-root")


def _show(mappings) -> str:
    return ",".join(f"{m['containerID']}:{m['hostID']}:{m['size']}" for m in mappings or []) or "none"


def _check_reachable(tree: str, uid: int, gid: int) -> None:
    """Every directory above the tree must let the remapped root through (dockerd's check, same advice)."""
    path = os.path.dirname(tree)
    while path != "/":
        st = os.stat(path)
        if not (st.st_mode & 0o001 or (st.st_uid == uid and st.st_mode & 0o100)
                or (st.st_gid == gid and st.st_mode & 0o010)):
            raise ConfigError(f"a subdirectory in your graphroot path ({tree}) restricts access to the remapped root "
                              f"uid/gid; please fix by allowing 'o+x' permissions on existing directories ({path})")
        path = os.path.dirname(path)
