"""The swarm's networks: ``overlay`` networks (and ``ingress``), kept by the swarm and realised on this node.

On a swarm of one node an overlay network has no other node to reach, so berth
realises each as a local bridge network with the swarm network's ID and name (the
engine's network driver for ``bridge``): containers on it reach each other and find
each other by name, as on an overlay; there is no VXLAN. The swarm keeps what
dockerd shows of it (driver ``overlay``, scope ``swarm``, ``Attachable``, ``Ingress``,
the VXLAN ID it would have, the subnet taken from the swarm's default address pool,
``10.0.0.0/8`` in ``/24``s). ``ingress`` is made at ``swarm init`` for the routing
mesh (:mod:`berth.swarm.ingress`). A container that is not a task may join only an
attachable network; a network a service uses cannot be removed; leaving the swarm
removes them all.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from berth.errors import BerthError, Conflict, Forbidden, InvalidArgument, NotFound
from berth.swarm import ids, lookup
from berth.swarm.cluster import NOT_A_MANAGER

VXLAN_OPTION = "com.docker.network.driver.overlay.vxlanid_list"
FIRST_VXLAN = 4096
TASK_LABEL = "com.docker.swarm.task.id"


def rpc(code: str, message: str) -> str:
    return f"rpc error: code = {code} desc = {message}"


class SwarmNetworks:
    def __init__(self, swarm: Any):
        self.swarm = swarm
        self.engine = swarm.engine
        self.store = swarm.store

    def records(self) -> dict[str, dict]:
        """The swarm's own networks (without the predefined ``bridge`` and ``host``)."""
        if self.store.state is None:
            return {}
        return {k: v for k, v in self.store.objects("networks").items()
                if not v.get("Predefined") and not v.get("Removing")}

    def record(self, network_id: str) -> dict | None:
        return self.records().get(network_id)

    def hides(self, network_id: str) -> bool:
        """A removed swarm network whose local bridge waits for its last tasks to go: no longer shown."""
        record = self.store.objects("networks").get(network_id) if self.store.state is not None else None
        return bool(record and record.get("Removing"))

    def get(self, ref: str) -> dict:
        """A swarm network by ID, name or ID prefix (the predefined ``bridge`` and ``host`` included)."""
        return lookup.find(self.store.objects("networks"), ref, "network", lambda r: r["Name"])

    # -- create ---------------------------------------------------------------

    def create(self, body: dict) -> dict:
        """``POST /networks/create`` of a swarm-scoped network (``body`` as the client sent it); its record.
        Outside a swarm it is dockerd's refusal, an untyped 500 there too."""
        if self.store.state is None:
            raise BerthError(NOT_A_MANAGER)
        self.swarm.cluster.require_manager()
        name = body.get("Name") or ""
        if name in ("bridge", "host", "none"):
            raise Forbidden(f"{name} is a pre-defined network and cannot be created")
        if self.engine.networks.find(name, missing_ok=True) is not None:
            raise Conflict(f"network with name {name} already exists")
        ingress = bool(body.get("Ingress"))
        existing = next((r for r in self.records().values() if r["Ingress"]), None)
        if ingress and existing is not None:
            raise Conflict(rpc("AlreadyExists", f"ingress network ({existing['ID']}) is already present"))
        driver = (body.get("Driver") or "overlay").lower()
        config = ((body.get("IPAM") or {}).get("Config") or [{}])[0]
        subnet, gateway = self._subnet(config.get("Subnet"), config.get("Gateway"), driver)
        record = {"ID": ids.new_id(), "Name": name, "Driver": driver, "Labels": dict(body.get("Labels") or {}),
                  "Internal": bool(body.get("Internal")), "Attachable": bool(body.get("Attachable")),
                  "Ingress": ingress, "Subnet": subnet, "Gateway": gateway,
                  "Options": {VXLAN_OPTION: str(self._vxlan(ingress))} if driver == "overlay" else None,
                  # as swarmkit keeps the request: which driver and IPAM driver it named
                  "SpecDriver": body.get("Driver"), "SpecIPAM": (body.get("IPAM") or {}).get("Driver")
                  if body.get("IPAM") is not None else None}
        self.engine.networks.create(name=name, driver="bridge", subnet=subnet, gateway=gateway,
                                    internal=record["Internal"], labels=record["Labels"], network_id=record["ID"])
        self.store.put("networks", record, created=True)
        self.swarm.event("network", "create", record["ID"], name)
        return record

    def _subnet(self, subnet: str | None, gateway: str | None, driver: str) -> tuple[str | None, str | None]:
        """The request's subnet, or the next free one of the swarm's default address pool (overlay only)."""
        if subnet:
            network = ipaddress.ip_network(subnet, strict=False)
            return str(network), gateway or str(next(network.hosts()))
        if driver != "overlay":
            return None, None  # a swarm-scoped bridge: the engine's own address pools
        cluster = self.store.state["cluster"]
        used = [ipaddress.ip_network(n.subnet or n.driver_data.get("subnet"), strict=False)
                for n in self.engine.networks.networks.values() if n.subnet or n.driver_data.get("subnet")]
        for pool in cluster["DefaultAddrPool"]:
            for candidate in ipaddress.ip_network(pool).subnets(new_prefix=cluster["SubnetSize"] or 24):
                if not any(candidate.overlaps(u) for u in used):
                    return str(candidate), str(next(candidate.hosts()))
        raise InvalidArgument(rpc("ResourceExhausted", "the swarm's default address pools have no free subnet"))

    def _vxlan(self, ingress: bool) -> int:
        if ingress:
            return FIRST_VXLAN
        taken = {int(r["Options"][VXLAN_OPTION]) for r in self.records().values() if r.get("Options")}
        return next(v for v in range(FIRST_VXLAN + 1, FIRST_VXLAN + 2**20) if v not in taken)

    def create_ingress(self) -> None:
        """The routing mesh's network, made at ``swarm init`` as dockerd makes it; and the swarm's records of the
        predefined ``bridge`` and ``host`` networks, which services may name (their tasks then use the node's)."""
        self.create({"Name": "ingress", "Ingress": True, "IPAM": {}})
        for name in ("bridge", "host"):
            self.store.put("networks", {"ID": ids.new_id(), "Name": name, "Driver": name, "Predefined": True},
                           created=True)

    # -- remove ---------------------------------------------------------------

    def in_use(self, record: dict) -> str | None:
        """Why a service keeps the network (it names it, or publishes ports through ingress), or None."""
        for service in self.store.objects("services").values():
            targets = [n.get("Target") for n in (service["Spec"]["TaskTemplate"].get("Networks") or [])
                       + (service["Spec"].get("Networks") or [])]
            ingress_ports = any(p.get("PublishMode", "ingress") == "ingress"
                                for p in (service["Spec"].get("EndpointSpec") or {}).get("Ports") or [])
            if record["ID"] in targets:
                return f"network {record['ID']} is in use by service {service['ID']}"
            if record["Ingress"] and ingress_ports:
                return f"ingress network cannot be removed because service {service['ID']} depends on it"
        return None

    def remove(self, record: dict, attached: list) -> None:
        """Refused while a service uses it (or, for ingress, publishes ports through it), or while containers
        that are not tasks are on it; the tasks of removed services still stopping do not keep it (the swarm
        forgets it now, its local bridge goes with them, see :meth:`collect`)."""
        if reason := self.in_use(record):
            raise InvalidArgument(rpc("FailedPrecondition", reason))
        if attached and all(TASK_LABEL in c.labels for c in attached):
            record["Removing"] = True
            self.store.put("networks", record)
        else:
            self.engine.networks.remove(record["ID"], bool(attached))
            self.store.delete("networks", record["ID"])
        self.swarm.event("network", "remove", record["ID"], record["Name"])

    def collect(self, attached: callable) -> None:
        """Remove the local bridges of removed swarm networks once no container is on them."""
        for record in [r for r in self.store.objects("networks").values() if r.get("Removing")]:
            if not attached(record["ID"]):
                if self.engine.networks.find(record["ID"], missing_ok=True) is not None:
                    self.engine.networks.remove(record["ID"], False)
                self.store.delete("networks", record["ID"])

    def remove_all(self) -> None:
        """At ``swarm leave``, once the tasks' containers are gone."""
        for record in list(self.store.objects("networks").values() if self.store.state is not None else []):
            if self.engine.networks.find(record["ID"], missing_ok=True) is not None:
                self.engine.networks.remove(record["ID"], False)

    # -- use ------------------------------------------------------------------

    def resolve(self, target: str) -> str:
        """A service's network target (name, ID or ID prefix) as the swarm network's ID."""
        try:
            return self.get(target)["ID"]
        except NotFound:
            local = self.engine.networks.find(target, missing_ok=True)
            if local is not None:
                raise Forbidden(f"The network {local.name} cannot be used with services. Only networks scoped to "
                                "the swarm can be used, such as those created with the overlay driver.") from None
            raise

    def admission(self, network: Any, container_id: str) -> None:
        """A container that is not a task may join a swarm network only if it is attachable."""
        record = self.record(network.id)
        if record is None or record["Attachable"]:
            return
        container = self.engine.containers.store.containers.get(container_id)
        if container is not None and TASK_LABEL in container.labels:
            return
        raise Forbidden(f"Could not attach to network {network.name}: "
                        + rpc("PermissionDenied", f"network {network.name} not manually attachable"))

    def view(self, record: dict, containers: dict | None, listing: bool = False) -> dict:
        """The network as dockerd's network routes show a swarm network: as the swarm describes it (no
        containers, no empty labels) in a list or while no container is on it here, else as this node has it."""
        listing = listing or not containers
        config = [{"Subnet": record["Subnet"], "Gateway": record["Gateway"]}] if record["Subnet"] else []
        return {
            "Name": record["Name"], "Id": record["ID"], "Created": record["CreatedAt"], "Scope": "swarm",
            "Driver": record["Driver"], "EnableIPv6": False,
            "IPAM": {"Driver": "default" if record["Subnet"] else "", "Options": None, "Config": config},
            "Internal": record["Internal"], "Attachable": record["Attachable"], "Ingress": record["Ingress"],
            "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Containers": None if listing else containers,
            "Options": record["Options"], "Labels": (record["Labels"] or None) if listing else record["Labels"],
        }

    def attachment(self, record: dict, address: str) -> dict:
        """A task's ``NetworksAttachments`` entry: the swarm network as swarmkit describes it, and the address."""
        spec = {"Name": record["Name"], "Labels": record["Labels"],
                "DriverConfiguration": {"Name": record.get("SpecDriver") or ""}, "Internal": record["Internal"],
                "Attachable": record["Attachable"], "Ingress": record["Ingress"], "Scope": "swarm",
                "IPAMOptions": None if record.get("SpecIPAM") is None and not record["Ingress"]
                else {"Driver": {"Name": record.get("SpecIPAM") or ""}}}
        spec = {k: v for k, v in spec.items() if v or k in ("Labels", "DriverConfiguration")}
        spec["DriverConfiguration"] = {k: v for k, v in spec["DriverConfiguration"].items() if v}
        if spec.get("IPAMOptions"):
            spec["IPAMOptions"] = {"Driver": {k: v for k, v in spec["IPAMOptions"]["Driver"].items() if v}}
        return {"Network": {"ID": record["ID"], "Version": record["Version"], "CreatedAt": record["CreatedAt"],
                            "UpdatedAt": record["UpdatedAt"], "Spec": spec,
                            "DriverState": {"Name": record["Driver"], "Options": record["Options"]},
                            "IPAMOptions": {"Driver": {"Name": "default"},
                                            "Configs": [{"Subnet": record["Subnet"], "Gateway": record["Gateway"]}]}},
                "Addresses": [address] if address else None}
