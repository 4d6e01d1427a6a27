"""How services reach networks: their targets, their tasks' endpoints, their published ports.

A task joins the ``ingress`` network first when its service publishes ports in
``ingress`` mode, then the service's networks, in order; on each of the service's
networks the service's name (and the attachment's aliases) is an alias of the task,
so the embedded DNS answers the service name with its tasks' addresses, in turn
(berth's endpoint mode ``vip`` is this round robin: there is no virtual IP).
``ingress`` ports without a published number get one from 30000-32767 and are served
by the routing mesh (:mod:`berth.swarm.ingress`); ``host`` ports are the task
container's own published ports.
"""

from __future__ import annotations

from typing import Any

from berth.errors import InvalidArgument, NotImplementedYet
from berth.swarm.ingress import RoutingMesh
from berth.swarm.networks import SwarmNetworks, rpc

DYNAMIC_PORTS = range(30000, 32768)


def _ingress_ports(spec: dict) -> list[dict]:
    return [p for p in (spec.get("EndpointSpec") or {}).get("Ports") or [] if p.get("PublishMode") != "host"]


class Networking:
    def __init__(self, swarm: Any):
        self.swarm = swarm
        self.engine = swarm.engine
        self.networks = SwarmNetworks(swarm)
        self.mesh = RoutingMesh()

    def resolve(self, target: str) -> str:
        return self.networks.resolve(target)

    def check_attachments(self, attachments: list[dict]) -> None:
        """swarmkit refuses an explicit attachment to the ingress network."""
        for attachment in attachments:
            record = self.networks.record(attachment["Target"])
            if record is not None and record["Ingress"]:
                raise InvalidArgument(rpc("InvalidArgument", "Service cannot be explicitly attached to the ingress "
                                                             f"network \"{record['Name']}\""))

    # -- ports ----------------------------------------------------------------

    def endpoint(self, spec: dict, current: dict | None) -> dict:
        """The service's ``Endpoint``: its endpoint spec, and its ports with the published numbers given."""
        endpoint_spec = spec["EndpointSpec"]
        if endpoint_spec is None:
            return {"Spec": {}}
        ports = [{k: v for k, v in p.items() if v} for p in endpoint_spec["Ports"] or []]
        if any(p.get("PublishMode") == "ingress" for p in ports):
            if p_sctp := [p for p in ports if p.get("PublishMode") == "ingress" and p.get("Protocol") == "sctp"]:
                raise NotImplementedYet(f"berth's routing mesh forwards tcp and udp; port {p_sctp[0]['TargetPort']}"
                                        "/sctp can be published in host mode (PublishMode \"host\")")
            if not any(r["Ingress"] for r in self.networks.records().values()):
                raise InvalidArgument(rpc("FailedPrecondition", "service needs ingress network, but no ingress "
                                                                "network is present"))
        assigned = {(p.get("Protocol"), p.get("TargetPort")): p.get("PublishedPort")
                    for p in (current or {}).get("Ports") or []}
        shown = []
        for port in ports:
            if port.get("PublishMode") == "ingress" and not port.get("PublishedPort"):
                port = {**port, "PublishedPort": assigned.get((port.get("Protocol"), port.get("TargetPort")))
                        or self._free_port(port.get("Protocol", "tcp"))}
            shown.append(port)
        return {"Spec": {k: v for k, v in (("Mode", endpoint_spec["Mode"]), ("Ports", endpoint_spec["Ports"])) if v},
                "Ports": shown}

    def _free_port(self, protocol: str) -> int:
        taken = {p.get("PublishedPort") for s in self.swarm.store.objects("services").values()
                 for p in s.get("Endpoint", {}).get("Ports") or [] if p.get("Protocol", "tcp") == protocol}
        return next(p for p in DYNAMIC_PORTS if p not in taken)

    # -- a task's endpoints -----------------------------------------------------

    def attachments(self, task: dict, service: dict) -> list[tuple[dict, dict]]:
        """(swarm network record, endpoint settings) of each network the task joins, in order."""
        out = []
        if any(p.get("PublishMode") == "ingress" for p in service.get("Endpoint", {}).get("Ports") or []):
            ingress = next((r for r in self.networks.records().values() if r["Ingress"]), None)
            if ingress is not None:
                out.append((ingress, {}))
        targets = task["Spec"].get("Networks") or service["Spec"].get("Networks") or []
        for attachment in targets:
            record = self.swarm.store.objects("networks").get(attachment.get("Target", ""))
            if record is None:
                continue
            if record.get("Predefined"):  # the node's own bridge or host network: no aliases there
                out.append((record, {}))
                continue
            aliases = [service["Spec"]["Name"], *(attachment.get("Aliases") or [])]
            out.append((record, {"Aliases": aliases, "DriverOpts": attachment.get("DriverOpts")}))
        return out

    def for_task(self, task: dict, service: dict) -> tuple[str | None, dict, list[dict]]:
        """The first network a task's container is created on with its endpoint settings (None: the default
        network), and the task's ``host``-mode ports."""
        ports = (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []
        host_ports = [p for p in ports if p.get("PublishMode") == "host"]
        attachments = self.attachments(task, service)
        if not attachments:
            return None, {}, host_ports
        record, settings = attachments[0]
        return record["Name"], {k: v for k, v in settings.items() if v}, host_ports

    async def connect_others(self, task: dict, container_id: str) -> None:
        """Join the task's container to its networks after the first, before it starts."""
        service = self.swarm.store.objects("services").get(task["ServiceID"])
        for record, settings in (self.attachments(task, service)[1:] if service else []):
            await self.engine.containers.connect(container_id, record["Name"],
                                                 {k: v for k, v in settings.items() if v})

    def task_attachments(self, task: dict, container_id: str) -> list[dict] | None:
        """The task's ``NetworksAttachments``: each swarm network it joined and its address there."""
        container = self.engine.containers.store.containers.get(container_id)
        if container is None:
            return None
        out = []
        for record in (r for r, _ in self._joined(container)):
            endpoint = next((e for e in container.endpoints.values() if e.get("network_id") == record["ID"]), {})
            out.append(self.networks.attachment(record, endpoint.get("ipv4_address", "")))
        return out or None

    def _joined(self, container) -> list[tuple[dict, dict]]:
        ids = [e.get("network_id") for e in container.endpoints.values()]
        return [(self.networks.record(i), {}) for i in ids if self.networks.record(i) is not None]

    # -- the routing mesh -------------------------------------------------------

    async def publish(self) -> None:
        """Keep the routing mesh listening on every service's ingress ports, towards its running tasks."""
        wanted = {}
        for service in self.swarm.store.objects("services").values():
            for port in service.get("Endpoint", {}).get("Ports") or []:
                if port.get("PublishMode", "ingress") == "ingress" and port.get("PublishedPort"):
                    key = (port.get("Protocol", "tcp"), port["PublishedPort"])
                    wanted[key] = self._backends(service["ID"], port["TargetPort"])
        await self.mesh.publish(wanted)

    def _backends(self, service_id: str, target_port: int):
        def backends() -> list[tuple[str, int]]:
            out = []
            ingress = next((r for r in self.networks.records().values() if r["Ingress"]), None)
            for task in self.swarm.store.objects("tasks").values() if self.swarm.store.state else []:
                if task["ServiceID"] != service_id or task["Status"]["State"] != "running" or ingress is None:
                    continue
                container_id = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
                container = self.engine.containers.store.containers.get(container_id or "")
                for endpoint in (container.endpoints.values() if container else []):
                    if endpoint.get("network_id") == ingress["ID"] and endpoint.get("ipv4_address"):
                        out.append((endpoint["ipv4_address"].split("/")[0], target_port))
            return out

        return backends
