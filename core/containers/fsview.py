"""A container's filesystem as its processes see it, for ``cp`` and the archive routes.

A running (or paused) container is read and written through ``/proc/<pid>/root``:
the kernel shows its root with everything mounted in it — volumes, bind mounts,
tmpfs — exactly as inside. A container that is not running has no mounts, so, as
dockerd does for it, its volumes and bind mounts are laid over its (mounted)
read-write layer; a tmpfs has no content then and shows what lies beneath.
"""

from __future__ import annotations

import os
from typing import Any

from berth.containers.model import Container, State
from berth.images.scope import Tree, clean


def mount_points(c: Container) -> list[tuple[str, bool]]:
    """(destination, writable) of every mount the container declares: volumes, binds and tmpfs."""
    points = [(clean(m["Destination"]), bool(m.get("RW", True))) for m in c.mounts]
    for dest, options in (c.host_config.get("Tmpfs") or {}).items():
        points.append((clean(dest), "ro" not in str(options or "").split(",")))
    return points


def mount_holding(c: Container, container_path: str) -> tuple[str, bool] | None:
    """The innermost mount of the container's mount table (volumes, binds, ``--mount`` tmpfs) that
    ``container_path`` (resolved) lies in, or None for the root. As dockerd's check of a copy's
    destination, ``--tmpfs`` mounts (HostConfig.Tmpfs) are not in that table."""
    path = clean(container_path)
    table = [(clean(m["Destination"]), bool(m.get("RW", True))) for m in c.mounts]
    inside = [(dest, rw) for dest, rw in table
              if dest == "/" or path == dest or path.startswith(dest.rstrip("/") + "/")]
    return max(inside, key=lambda item: len(item[0]), default=None)


class ContainerFS:
    """Open with ``with ContainerFS(containers, c) as tree:`` (or :meth:`open`/:meth:`close` across a stream).

    ``containers`` is the container manager: it mounts the container's filesystem as the container
    sees it (through its id map when remapped; the tree then says so, see :class:`Tree`).
    """

    def __init__(self, containers: Any, c: Container):
        self.containers = containers
        self.container = c
        self._mounted = False

    def open(self) -> Tree:
        c = self.container
        idmap = self.containers.idmap_of(c)
        live = f"/proc/{c.state.pid}/root"
        if c.state.status in (State.RUNNING, State.PAUSED) and c.state.pid and os.path.isdir(live + "/"):
            return Tree(live, live_mount_points={dest for dest, _ in mount_points(c)}, idmap=idmap)
        root = self.containers.mount_rootfs(c)
        self._mounted = True
        return Tree(root, {m["Destination"]: m["Source"] for m in c.mounts
                           if m.get("Type") in ("volume", "bind") and m.get("Source")}, idmap=idmap)

    def close(self) -> None:
        if self._mounted:
            self._mounted = False
            self.containers.unmount_rootfs(self.container)

    def __enter__(self) -> Tree:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()
