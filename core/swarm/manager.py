"""The engine's swarm mode: one object that holds the cluster, its node, secrets, configs, services and tasks.

:class:`SwarmManager` is what the API routes and the daemon talk to; it builds the
parts on one :class:`~berth.swarm.store.SwarmStore` under ``<data-root>/swarm``
and starts the orchestrator while this node is in a swarm.
"""

from __future__ import annotations

import asyncio
import os
import platform
from typing import Any

import berth
from berth import hostfacts, log
from berth.errors import BerthError
from berth.swarm import apitypes, gojson, placement
from berth.swarm.cluster import Cluster
from berth.swarm.networking import Networking
from berth.swarm.nodes import Nodes
from berth.swarm.orchestrator import Orchestrator
from berth.swarm.services import Services
from berth.swarm.secrets import CONFIG, SECRET, Objects


class SwarmManager:
    def __init__(self, engine: Any):
        self.engine = engine
        self.cluster = Cluster(os.path.join(engine.data_root, "swarm"), self.describe_node, self.managed_subnets)
        self.store = self.cluster.store
        self.nodes = Nodes(self.cluster, self.describe_node, self.event)
        self.secrets = Objects(self.store, SECRET, lambda object_id: self.users_of("Secrets", "SecretID", object_id),
                               self.event)
        self.configs = Objects(self.store, CONFIG, lambda object_id: self.users_of("Configs", "ConfigID", object_id),
                               self.event)
        self.networking = Networking(self)
        self.services = Services(self)
        self.orchestrator = Orchestrator(self)
        engine.networks.admission = self.networking.networks.admission

    def event(self, type_: str, action: str, object_id: str, name: str, **attributes: str) -> None:
        """One of dockerd's swarm events (scope ``swarm``; the object's name, and what changed)."""
        self.engine.events.publish(type_, action, object_id, {"name": name, **attributes}, scope="swarm")

    # -- what the node and the engine look like to the swarm -----------------

    def describe_node(self) -> dict:
        """This machine as swarmkit describes a node (``Description`` without ``TLSInfo``)."""
        return {
            "Hostname": platform.node(), "Platform": {"Architecture": platform.machine(), "OS": "linux"},
            "Resources": {"NanoCPUs": (os.cpu_count() or 1) * 1_000_000_000,
                          "MemoryBytes": hostfacts.memory_total(), "GenericResources": None},
            "Engine": {"EngineVersion": berth.__version__, "Labels": None, "Plugins": self._plugins()},
        }

    def _plugins(self) -> list[dict]:
        from berth.containers import logdrivers

        networks = {"null" if n["Name"] == "none" else n["Name"]
                    for n in self.engine.driver_inventory() if n["Kind"] == "network"}
        plugins = [("Log", d) for d in logdrivers.DRIVERS if d != logdrivers.NONE]
        plugins += [("Network", n) for n in networks] + [("Volume", "local")]
        return [{"Type": t, "Name": n} for t, n in sorted(plugins)]

    def managed_subnets(self) -> list[str]:
        """The subnets of the engine's own networks (an address in one is not the node's address)."""
        out = []
        for net in self.engine.networks.networks.values():
            subnet = net.subnet or (net.driver_data or {}).get("subnet")
            if subnet:
                out.append(subnet)
        return out

    def scheduling_problem(self, task: dict) -> str | None:
        """Why the node cannot take ``task`` now (swarmkit's "no suitable node" reasons), or None."""
        node_record = self.store.state["node"]
        if node_record["Spec"]["Availability"] != "active":
            return "no suitable node (1 node not available for new tasks)"
        node = self.nodes.value(node_record)
        placement_spec = task["Spec"].get("Placement") or {}
        if not placement.node_matches(placement.parse(placement_spec.get("Constraints") or []), node):
            return "no suitable node (scheduling constraints not satisfied on 1 node)"
        if not placement.platform_matches(placement_spec.get("Platforms"), node):
            return "no suitable node (unsupported platform on 1 node)"
        return None

    def users_of(self, field: str, id_field: str, object_id: str) -> list[str]:
        """Names of the services whose tasks use the secret or config ``object_id``."""
        names = []
        for service in self.store.objects("services").values():
            container = (service["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}
            if any(ref.get(id_field) == object_id for ref in container.get(field) or []):
                names.append(service["Spec"]["Name"])
        return names

    # -- membership -------------------------------------------------------------

    async def start(self) -> None:
        """At daemon start: a node in a swarm orchestrates again (its task containers were re-adopted)."""
        if self.store.state is not None:
            log.get().info("swarm.resumed", node_id=self.store.state["node"]["ID"], locked=self.cluster.locked)
            self.orchestrator.start()

    async def stop(self) -> None:
        """At daemon stop: task containers keep running (live restore), the state stays."""
        await self.orchestrator.stop()

    async def init(self, request: dict) -> str:
        with log.job("swarm.init") as ev:
            node_id = await asyncio.to_thread(self.cluster.init, request)
            ev["node_id"] = node_id
            node = self.store.state["node"]
            self.event("node", "update", node_id, self.nodes.name(node), **{"state.new": "ready",
                                                                             "state.old": "unknown"})
            try:
                await asyncio.to_thread(self.networking.networks.create_ingress)
            except BaseException:
                await asyncio.to_thread(self.networking.networks.remove_all)
                self.cluster.clear()  # as dockerd: an init that fails keeps no state
                raise
        self.orchestrator.start()
        return node_id

    def info(self) -> dict:
        """``info.Swarm`` as dockerd shows it."""
        return gojson.encode(self.cluster.info(), apitypes.SwarmInfo)

    async def leave(self, force: bool) -> None:
        """``swarm leave``: refused as dockerd refuses it; then the tasks' containers and the swarm's state go."""
        self.cluster.check_leave(force)
        with log.job("swarm.leave") as ev:
            await self.orchestrator.stop()
            node_id = self.store.state["node"]["ID"]
            removed = 0
            for c in list(self.engine.containers.store.containers.values()):
                if c.labels.get("com.docker.swarm.node.id") == node_id:
                    try:
                        await self.engine.containers.remove(c.id, force=True)
                        self.engine.execs.forget_container(c.id)
                        removed += 1
                    except BerthError as exc:
                        log.get().warning("swarm.leave_container", container_id=c.id[:12], error=exc.message)
            ev["containers_removed"] = removed
            await asyncio.to_thread(self.networking.networks.remove_all)
            await asyncio.to_thread(self.orchestrator.agent.forget_files)
            self.cluster.clear()
