"""``--device`` and ``--device-cgroup-rule``: host device nodes and cgroup rules for the OCI spec.

After moby ``oci/devices_linux.go`` (``DevicesFromPath``) and ``oci/oci.go``
(``AppendDevicePermissionsFromCgroupRules``): a device is given to the container with its
host major/minor, mode and owner at ``PathInContainer`` (a directory brings every device
under it), and one cgroup allow rule with the mapping's permissions (``r``, ``w``, ``m``)
is added to the default allowlist. Read at start, as dockerd does: the node must exist then.
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from berth.errors import InvalidArgument

_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def check_permissions(mapping: dict[str, Any]) -> str:
    """The mapping's cgroup permissions ("rwm" when empty); each of r, w, m at most once."""
    perms = mapping.get("CgroupPermissions") or "rwm"
    if any(c not in "rwm" for c in perms) or len(set(perms)) != len(perms):
        raise InvalidArgument(f"bad mode specified: {perms}")
    return perms


def check_mapping(mapping: dict[str, Any]) -> None:
    """At create: a host path, an absolute container path, valid permissions."""
    if not mapping.get("PathOnHost"):
        raise InvalidArgument("invalid device mapping: PathOnHost is empty")
    inside = mapping.get("PathInContainer") or mapping["PathOnHost"]
    if not inside.startswith("/"):
        raise InvalidArgument(f"{inside} is not an absolute path")
    check_permissions(mapping)


def _device(path: str, inside: str, perms: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(linux.devices entry, cgroup rule) for the node at ``path``; None when it is not a device."""
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    node = {"path": inside, "type": kind, "major": major, "minor": minor, "fileMode": stat.S_IMODE(st.st_mode),
            "uid": st.st_uid, "gid": st.st_gid}
    return node, {"allow": True, "type": kind, "major": major, "minor": minor, "access": perms}


def from_mapping(mapping: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The nodes and cgroup rules of one ``Devices`` entry (a directory: every device below it)."""
    host = mapping["PathOnHost"]
    inside = mapping.get("PathInContainer") or host
    perms = check_permissions(mapping)
    resolved = os.path.realpath(host) if os.path.islink(host) else host
    try:
        found = _device(resolved, inside, perms)
    except OSError as exc:
        raise InvalidArgument(f'error gathering device information while adding custom device "{host}": '
                              f"{exc.strerror.lower()}") from None
    if found is not None:
        return [found[0]], [found[1]]
    nodes, rules = [], []
    if os.path.isdir(resolved):
        for dirpath, _, files in os.walk(resolved):
            for name in sorted(files):
                path = os.path.join(dirpath, name)
                try:
                    child = _device(path, inside + path[len(resolved):], perms)
                except OSError:
                    continue
                if child is not None:
                    nodes.append(child[0])
                    rules.append(child[1])
    if not nodes:
        raise InvalidArgument(f'error gathering device information while adding custom device "{host}": '
                              "not a device node")
    return nodes, rules


def rules_from_strings(rules: list[str] | None) -> list[dict[str, Any]]:
    """``--device-cgroup-rule 'c 1:3 mr'`` lines as OCI device cgroup rules (``*`` is any: -1)."""
    out = []
    for text in rules or []:
        match = _RULE.match(text)
        if not match:
            raise InvalidArgument(f"invalid device cgroup rule format: '{text}'")
        kind, major, minor, access = match.groups()
        out.append({"allow": True, "type": kind, "major": -1 if major == "*" else int(major),
                    "minor": -1 if minor == "*" else int(minor), "access": access})
    return out


#: directories of /dev that are not the host's devices to hand on (runc's ``GetDevices`` skips them)
_SKIPPED_DIRS = {"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"}


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node of the host for ``--privileged`` (``/dev/console`` is the container's own pty)."""
    nodes = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if path == os.path.join(root, "console") or os.path.islink(path):
                continue
            try:
                found = _device(path, path, "rwm")
            except OSError:
                continue
            if found is not None:
                nodes.append(found[0])
    return nodes


def refuse_device_requests(requests: list[dict[str, Any]] | None) -> None:
    """``--gpus`` / ``DeviceRequests``: berth has no device driver (no GPU runtime), so any request fails
    at start with dockerd's message for a host without one."""
    for request in requests or []:
        capabilities = " ".join("[" + " ".join(c) + "]" for c in request.get("Capabilities") or [])
        raise InvalidArgument(f'could not select device driver "{request.get("Driver") or ""}" '
                              f"with capabilities: [{capabilities}]")
