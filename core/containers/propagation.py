"""Mount propagation of bind mounts, with dockerd's rules.

A bind may ask for ``shared``/``rshared`` (mounts made on either side appear on the other) or
``slave``/``rslave`` (host mounts appear in the container). Both only mean something when the
source's own mount takes part in propagation, so, as dockerd does at start, a shared bind needs a
shared source mount and a slave bind a shared or slave one; and the container's root is made
shared (or rslave) so the bind is not cut off from its peers under it.
"""

from __future__ import annotations

from typing import Any

from berth.errors import BerthError
from berth.fsutil import mount_of

MODES = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
DEFAULT = "rprivate"


def bind_options(mount: dict[str, Any]) -> list[str]:
    """The OCI options of one bind of the container's mount table (a volume's or a bind's)."""
    options = ["bind" if mount.get("NonRecursive") else "rbind"]
    if not mount["RW"]:
        options.append("ro")
    options.append(mount.get("Propagation") or DEFAULT)
    return options


def rootfs_propagation(mounts: list[dict[str, Any]]) -> str | None:
    """The ``linux.rootfsPropagation`` the binds need (None: the driver's default), after checking
    their sources as dockerd does; the error is dockerd's, at start."""
    wanted = None
    for m in mounts:
        mode = m.get("Propagation") or ""
        if m.get("Type") != "bind" or mode not in ("shared", "rshared", "slave", "rslave"):
            continue
        target, peer_fields = mount_of(m["Source"])
        if mode.endswith("shared"):
            if not any(f.startswith("shared:") for f in peer_fields):
                raise BerthError(f"path {m['Source']} is mounted on {target} but it is not a shared mount")
            wanted = "shared"
        else:
            if not any(f.startswith(("shared:", "master:")) for f in peer_fields):
                raise BerthError(f"path {m['Source']} is mounted on {target} but it is not a shared or slave mount")
            wanted = wanted or "rslave"
    return wanted
