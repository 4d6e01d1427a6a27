"""The container manager: one object the API and the builder drive, its concerns in modules of their own.

As in Moby's daemon (one ``Daemon`` whose methods live in ``create.go``, ``start.go``,
``stop.go``, ...), :class:`ContainerManager` is assembled from one mixin per concern:

=================  =============================================================
``create``         validate a request, merge it with the image config, store it
``start``          the named steps to a running process, and their undoing
``networking``     the sandbox, joining and leaving networks, connect and disconnect
``resolution``     /etc/hostname, /etc/hosts and /etc/resolv.conf from the endpoints
``publishing``     published ports on the gateway endpoint
``attaching``      clients attached before and while a container runs
``exits``          exit records, restart policies, waits
``signals``        kill, stop, restart, pause, unpause
``runtime``        rename, update, resize, top, stats
``removal``        rm and prune
``restore``        re-adoption after a daemon restart
``health``         healthcheck probes (:class:`~berth.containers.health.HealthMonitor`)
=================  =============================================================

The manager runs on the daemon's event loop; every driver call is blocking and
runs in a worker thread. Each container has an asyncio lock so two requests
never race on one container. Every state change is persisted before it is
reported. The state below is what the mixins share.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from berth.containers.attaching import AttachMixin
from berth.containers.create import CreateMixin
from berth.containers.exits import ExitMixin
from berth.containers.health import HealthMonitor
from berth.containers.logdrivers import LogDefaults
from berth.containers.model import Container
from berth.containers.networking import NetworkingMixin
from berth.containers.remapping import RemappingMixin
from berth.containers.publishing import PublishingMixin
from berth.containers.removal import RemovalMixin
from berth.containers.resolution import ResolutionMixin
from berth.containers.restore import RestoreMixin
from berth.containers.runtime import RuntimeMixin
from berth.containers.signals import SignalMixin
from berth.containers.start import StartMixin
from berth.containers.store import ContainerStore
from berth.drivers import ExecDriver, GraphDriver
from berth.events import EventBus
from berth.hookspecs.types import IdMap
from berth.networks import NetworkManager


class ContainerManager(CreateMixin, StartMixin, NetworkingMixin, ResolutionMixin, PublishingMixin, AttachMixin,
                       ExitMixin, SignalMixin, RuntimeMixin, RemovalMixin, RestoreMixin, RemappingMixin):
    def __init__(self, *, store: ContainerStore, images: Any, graph: GraphDriver, execd: ExecDriver,
                 networks: NetworkManager, events: EventBus, exec_root: str, dns: dict[str, list[str]],
                 volumes: Any = None, log_defaults: LogDefaults | None = None, idmap: IdMap | None = None):
        self.store = store
        self.images = images
        self.graph = graph
        self.exec = execd
        self.networks = networks
        self.events = events
        self.volumes = volumes
        self.bundles = os.path.join(exec_root, "containers")
        os.makedirs(self.bundles, mode=0o700, exist_ok=True)
        self.dns = dns
        self.log_defaults = log_defaults or LogDefaults()
        #: --userns-remap's map: every container not created with ``--userns host`` runs through it
        self.idmap = idmap
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit_waiters: dict[str, list[asyncio.Future]] = {}
        self._removed_waiters: dict[str, list[asyncio.Future]] = {}
        self._attachers: dict[str, list[asyncio.Future]] = {}
        self._restart_delay: dict[str, float] = {}
        #: containers an ``rm -f`` killed: their exit record is not fsynced, the removal's record follows at once
        self._removal_follows: set[str] = set()
        self._restart_tasks: dict[str, asyncio.Task] = {}
        # probes are execs: the engine gives the monitor its runner once the exec manager exists
        self.health = HealthMonitor(run_probe=None, on_change=self._health_changed)

    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.bundles, container_id)

    def attach_socket(self, container_id: str) -> str:
        return os.path.join(self.bundle(container_id), "attach.sock")

    def event(self, c: Container, action: str, **extra: Any) -> None:
        attrs = {"name": c.name, "image": c.config.get("Image", ""), **c.labels, **extra}
        self.events.publish("container", action, c.id, attrs)

    def _health_changed(self, c: Container, status: str) -> None:
        # persisted on a change of status only: a probe's log entry alone is not worth a write
        # (Docker keeps those in memory too)
        self.store.save(c)
        self.event(c, f"health_status: {status}")

    def volume_events(self, c: Container, action: str) -> None:
        """dockerd's ``volume mount``/``unmount`` for each volume (not bind mount) of the container, as it
        mounts them to start it or to serve a copy, and unmounts them after."""
        for m in c.mounts:
            if m.get("Type") != "volume":
                continue
            attributes = {"driver": m.get("Driver") or "local", "container": c.id}
            if action == "mount":
                attributes.update({"destination": m["Destination"], "read/write": "true" if m.get("RW", True) else "false",
                                   "propagation": m.get("Propagation") or ""})
            self.events.publish("volume", action, m["Name"], attributes)

    def idmap_of(self, c: Container) -> IdMap | None:
        """The id map ``c`` runs with: the daemon's remapping, unless it opted out (``--userns host``)."""
        return None if self.idmap is None or c.host_config.get("UsernsMode") == "host" else self.idmap

    def mount_rootfs(self, c: Container) -> str:
        """Mount ``c``'s filesystem as its processes see it: through its id map when it has one.

        A remapped container's layer is only ever mounted this way (running it, copying, exporting);
        its diffs come from the graph driver's diff hooks, which read what is stored.
        """
        idmap = self.idmap_of(c)
        return self.graph.mount_idmapped(c.layer_id, idmap) if idmap else self.graph.mount(c.layer_id)

    def unmount_rootfs(self, c: Container) -> None:
        """Balance one :meth:`mount_rootfs`."""
        if self.idmap_of(c):
            self.graph.unmount_idmapped(c.layer_id)
        else:
            self.graph.unmount(c.layer_id)

    def image_config(self, c: Container) -> dict[str, Any]:
        return (self.images.get(c.image_id).config or {}).get("config") or {}
