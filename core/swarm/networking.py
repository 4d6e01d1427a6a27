"""How services reach networks: their network targets, their tasks' networks, their published ports.

berth's swarm has no overlay networks yet (see :mod:`berth.swarm` for why): a
service names none, its tasks join the default bridge network as dockerd's tasks
without networks do, and its ports are published in ``host`` mode only. A network
target or an ``ingress`` published port is refused with the reason.
"""

from __future__ import annotations

from typing import Any

from berth.errors import Forbidden, NotFound, NotImplementedYet


class Networking:
    def __init__(self, swarm: Any):
        self.swarm = swarm
        self.engine = swarm.engine

    def resolve(self, target: str) -> str:
        """The ID of the swarm network ``target`` names (dockerd's ``populateNetworkID``)."""
        local = self.engine.networks.find(target, missing_ok=True)
        if local is not None:
            raise Forbidden(f"The network {local.name} cannot be used with services. Only networks scoped to the "
                            "swarm can be used, such as those created with the overlay driver.")
        raise NotFound(f"network {target} not found")

    def check_attachments(self, attachments: list[dict]) -> None:
        """swarmkit refuses an explicit attachment to the ingress network."""

    def endpoint(self, spec: dict, current: dict | None) -> dict:
        """The service's ``Endpoint``: its spec, and the ports published."""
        endpoint_spec = spec["EndpointSpec"]
        ports = [p for p in (endpoint_spec or {}).get("Ports") or []]
        if any(p["PublishMode"] == "ingress" for p in ports):
            raise NotImplementedYet("berth's swarm publishes ports in host mode only (PublishMode \"host\"): there is "
                                    "no routing mesh (ingress network) on this node yet")
        shown = {"Mode": endpoint_spec["Mode"], "Ports": endpoint_spec["Ports"]} if endpoint_spec else {}
        out: dict = {"Spec": {k: v for k, v in shown.items() if v}}
        host_ports = [{k: v for k, v in p.items() if v} for p in ports]
        if host_ports:
            out["Ports"] = host_ports
        return out

    def for_task(self, task: dict, service: dict) -> tuple[str | None, list[dict]]:
        """The network a task's container is created on (None: the default) and its host-mode ports."""
        ports = (service["Spec"].get("EndpointSpec") or {}).get("Ports") or []
        return None, [p for p in ports if p.get("PublishMode") == "host"]

    async def connect_others(self, task: dict, container_id: str) -> None:
        """Join the task's container to its other networks (none without overlay networks)."""
