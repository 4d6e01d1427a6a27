"""What a remapped container (``berthd --userns-remap``) needs at start, beyond a mapped rootfs.

Its user namespace: a new one, or, when it shares another container's network, IPC or pid
namespace, that container's (namespaces belong to a user namespace, and only the same one may
use them fully; dockerd does the same). And its files, as dockerd hands them over: the
container's directory reachable by the remapped root (root:<gid> 0710) and its hostname, hosts
and resolv.conf owned by it, so that the container's root may edit them as it could without
remapping.
"""

from __future__ import annotations

import os
from typing import Any

from berth.containers import netmode
from berth.containers.model import Container
from berth.errors import Conflict
from berth.hookspecs.types import IdMap


class RemappingMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    def _user_namespace(self, c: Container, idmap: IdMap | None) -> dict[str, Any] | None:
        """The OCI ``user`` namespace entry of ``c`` (None: not remapped)."""
        if idmap is None:
            return None
        for key in ("NetworkMode", "IpcMode", "PidMode"):
            ref = netmode.container_ref(c.host_config.get(key) or "")
            if not ref:
                continue
            donor = self.get(ref)
            if self.idmap_of(donor) is None:
                raise Conflict(f"cannot share the namespaces of container {donor.id}: it runs in the host's user "
                               "namespace (--userns host), and this one is remapped; run both with --userns host "
                               "or neither")
            return {"type": "user", "path": f"/proc/{donor.state.pid}/ns/user"}
        return {"type": "user"}

    def _hand_to_remapped_root(self, c: Container, etc_files: dict[str, str], idmap: IdMap) -> None:
        """The container's directory and its own /etc files, for the remapped root (as dockerd chowns them)."""
        uid, gid = idmap.root
        directory = self.store.directory(c.id)
        os.chown(directory, 0, gid)
        os.chmod(directory, 0o710)
        for path in etc_files.values():
            if os.path.dirname(path) == directory:  # another container's files (container:X) are X's business
                os.chown(path, uid, gid)
