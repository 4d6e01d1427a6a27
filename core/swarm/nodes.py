"""The swarm's one node: list, inspect, update (name, labels, role, availability), remove.

The node is this machine, described as swarmkit describes it (hostname, platform,
CPUs and memory, the engine's version and plugins, the root CA); it is the leader
and the only manager, so it can be neither demoted nor removed, with swarmkit's
answers.
"""

from __future__ import annotations

from typing import Callable

from berth.errors import InvalidArgument
from berth.swarm import addresses, apitypes, gojson, lookup
from berth.swarm.cluster import Cluster

ROLES = ("worker", "manager")
AVAILABILITIES = ("active", "pause", "drain")
FILTERS = ("name", "id", "label", "role", "membership", "node.label")


class Nodes:
    def __init__(self, cluster: Cluster, describe: Callable[[], dict], event: Callable[..., None]):
        self.cluster = cluster
        self.describe = describe  # {"Hostname", "Platform", "Resources", "Engine"} of this machine
        self.event = event

    def _record(self) -> dict:
        return self.cluster.require_manager()["node"]

    def name(self, record: dict) -> str:
        return record["Spec"]["Name"] or self.describe()["Hostname"]

    def value(self, record: dict) -> dict:
        """The node as a Go value of :data:`apitypes.Node`."""
        cluster = self.cluster.store.state["cluster"]
        described = self.describe()
        return {
            "ID": record["ID"], "Version": record["Version"], "CreatedAt": record["CreatedAt"],
            "UpdatedAt": record["UpdatedAt"],
            "Spec": {"Name": record["Spec"]["Name"], "Labels": dict(record["Spec"]["Labels"] or {}),
                     "Role": record["Spec"]["Role"], "Availability": record["Spec"]["Availability"]},
            "Description": {**described, "TLSInfo": gojson.decode(cluster["TLSInfo"], apitypes.TLSInfo)},
            "Status": {"State": "ready", "Message": "", "Addr": addresses.split_host_port(record["Advertise"])[0]},
            "ManagerStatus": {"Leader": True, "Reachability": "reachable", "Addr": record["Advertise"]},
        }

    def json(self, record: dict) -> dict:
        return gojson.encode(self.value(record), apitypes.Node)

    def get(self, ref: str) -> dict:
        record = self._record()
        return lookup.find({record["ID"]: record}, ref, "node", self.name)

    def list(self, filters: dict[str, list[str]]) -> list[dict]:
        record = self._record()
        lookup.check_filters(filters, FILTERS)
        for role in filters.get("role", []):
            if role and role.lower() not in ROLES:
                raise InvalidArgument(f"Invalid role filter: '{role}'")
        for membership in filters.get("membership", []):
            if membership and membership.lower() not in ("pending", "accepted"):
                raise InvalidArgument(f"Invalid membership filter: '{membership}'")
        value = self.value(record)
        matches = (lookup.prefix_match(self.name(record), filters.get("name"))
                   and lookup.prefix_match(record["ID"], filters.get("id"))
                   and lookup.labels_match(value["Description"]["Engine"].get("Labels"),
                                           lookup.label_filter(filters.get("label", [])))
                   and lookup.labels_match(record["Spec"]["Labels"], lookup.label_filter(filters.get("node.label", [])))
                   and lookup.exact_match("manager", [r.lower() for r in filters.get("role", []) if r])
                   and lookup.exact_match("accepted", [m.lower() for m in filters.get("membership", []) if m]))
        return [gojson.encode(value, apitypes.Node)] if matches else []

    def update(self, ref: str, version: int, spec: dict) -> None:
        """``spec`` is a decoded NodeSpec; dockerd refuses an unknown role or availability, swarmkit the demotion
        of the last manager."""
        self._record()  # a node outside a swarm answers 503 first
        role, availability = spec["Role"].lower(), spec["Availability"].lower()
        if role not in ROLES:
            raise InvalidArgument(f'invalid Role: "{spec["Role"]}"')
        if availability not in AVAILABILITIES:
            raise InvalidArgument(f'invalid Availability: "{spec["Availability"]}"')
        record = self.get(ref)
        if role == "worker":
            raise InvalidArgument("rpc error: code = FailedPrecondition desc = attempting to demote the last manager "
                                  "of the swarm")
        self.cluster.store.check_version(record, version)
        record["Spec"] = {"Name": spec["Name"], "Labels": dict(spec["Labels"] or {}), "Role": role,
                          "Availability": availability}
        self.cluster.store.stamp(record)
        self.cluster.store.save()
        self.event("node", "update", record["ID"], self.name(record))

    def remove(self, ref: str, force: bool) -> None:
        record = self.get(ref)
        raise InvalidArgument(f"rpc error: code = FailedPrecondition desc = node {record['ID']} is a cluster manager "
                              "and is a member of the raft cluster. It must be demoted to worker before removal")
