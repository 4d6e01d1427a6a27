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
from berth.swarm import apitypes, gojson
from berth.swarm.cluster import Cluster
from berth.swarm.nodes import Nodes
from berth.swarm.secrets import CONFIG, SECRET, Objects


class SwarmManager:
    def __init__(self, engine: Any):
        self.engine = engine
        self.cluster = Cluster(os.path.join(engine.data_root, "swarm"), self.describe_node, self.managed_subnets)
        self.store = self.cluster.store
        self.nodes = Nodes(self.cluster, self.describe_node)
        self.secrets = Objects(self.store, SECRET, lambda object_id: self.users_of("Secrets", "SecretID", object_id))
        self.configs = Objects(self.store, CONFIG, lambda object_id: self.users_of("Configs", "ConfigID", object_id))

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
        """At daemon start: nothing to do outside a swarm."""
        if self.store.state is not None:
            log.get().info("swarm.resumed", node_id=self.store.state["node"]["ID"], locked=self.cluster.locked)

    async def stop(self) -> None:
        """At daemon stop: task containers keep running (live restore), the state stays."""

    async def init(self, request: dict) -> str:
        with log.job("swarm.init") as ev:
            node_id = await asyncio.to_thread(self.cluster.init, request)
            ev["node_id"] = node_id
        return node_id

    def info(self) -> dict:
        """``info.Swarm`` as dockerd shows it."""
        return gojson.encode(self.cluster.info(), apitypes.SwarmInfo)

    async def leave(self, force: bool) -> None:
        self.cluster.leave(force)
        log.get().info("swarm.left")
