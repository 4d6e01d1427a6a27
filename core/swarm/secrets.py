"""Secrets and configs: create, list, inspect, update (labels only), remove, as swarmkit keeps them.

The two kinds differ in little: a secret's data is never shown (nor its size),
accepts at most 500 KiB and may name a driver; a config's data is shown and may be
1000 KiB. Either is refused for removal while a service refers to it. The data
lives in the swarm's state file (0600, under a 0700 directory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.errors import Conflict, InvalidArgument, NotFound
from berth.swarm import apitypes, gojson, ids, lookup
from berth.swarm.store import SwarmStore

VALID_NAME = re.compile(r"^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$")


def rpc_invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"rpc error: code = InvalidArgument desc = {message}")


@dataclass(frozen=True)
class Kind:
    name: str  # "secret" or "config"
    plural: str
    spec_type: object
    record_type: object
    max_size: int
    shows_data: bool
    filters: tuple[str, ...]


SECRET = Kind("secret", "secrets", apitypes.SecretSpec, apitypes.Secret, 500 * 1024, False,
              ("names", "name", "id", "label"))
CONFIG = Kind("config", "configs", apitypes.ConfigSpec, apitypes.Config, 1000 * 1024, True, ("name", "id", "label"))


class Objects:
    """The secrets or the configs of the swarm in ``store``."""

    def __init__(self, store: SwarmStore, kind: Kind, used_by: callable, event: callable):
        self.store = store
        self.kind = kind
        self.used_by = used_by  # object ID -> names of the services that refer to it
        self.event = event

    def _records(self) -> dict[str, dict]:
        return self.store.objects(self.kind.plural)

    def get(self, ref: str) -> dict:
        return lookup.find(self._records(), ref, self.kind.name, lambda r: r["Spec"]["Name"])

    def create(self, spec: dict) -> str:
        """``spec`` is a decoded SecretSpec/ConfigSpec; the new object's ID."""
        self._validate(spec)
        if any(r["Spec"]["Name"] == spec["Name"] for r in self._records().values()):
            raise Conflict(f"rpc error: code = AlreadyExists desc = {self.kind.name} {spec['Name']} already exists")
        record = {"ID": ids.new_id(), "Spec": gojson.encode(spec, self.kind.spec_type)}
        self.store.put(self.kind.plural, record, created=True)
        self.event(self.kind.name, "create", record["ID"], spec["Name"])
        return record["ID"]

    def _validate(self, spec: dict) -> None:
        name = spec["Name"]
        if not name:
            raise rpc_invalid("name must be provided")
        if len(name) > 64 or not VALID_NAME.match(name):
            raise rpc_invalid("invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end "
                              "character must be [a-zA-Z0-9]")
        if spec.get("Driver") is not None:
            raise rpc_invalid(f"secret driver {spec['Driver']['Name'] or '(no name)'} is not available: berth has "
                              "no secret drivers, give the secret's data instead")
        size = len(spec["Data"] or b"")
        if not 0 < size <= self.kind.max_size:
            raise rpc_invalid(f"{self.kind.name} data must be larger than 0 and less than {self.kind.max_size} bytes")

    def update(self, ref: str, version: int, spec: dict) -> None:
        """Only the labels may change (the name and data must be the same)."""
        record = self.get(ref)
        current = gojson.decode(record["Spec"], self.kind.spec_type)
        if spec["Name"] != current["Name"] or (spec["Data"] is not None and spec["Data"] != current["Data"]):
            raise rpc_invalid("only updates to Labels are allowed")
        self.store.check_version(record, version)
        record["Spec"]["Labels"] = dict(spec["Labels"] or {})
        self.store.put(self.kind.plural, record)
        self.event(self.kind.name, "update", record["ID"], record["Spec"]["Name"])

    def remove(self, ref: str) -> None:
        record = self.get(ref)
        users = self.used_by(record["ID"])
        if users:
            noun = "service" if len(users) == 1 else "services"
            raise rpc_invalid(f"{self.kind.name} '{record['Spec']['Name']}' is in use by the following {noun}: "
                              f"{', '.join(users)}")
        self.store.delete(self.kind.plural, record["ID"])
        self.event(self.kind.name, "remove", record["ID"], record["Spec"]["Name"])

    def list(self, filters: dict[str, list[str]]) -> list[dict]:
        lookup.check_filters(filters, self.kind.filters)
        wanted = lookup.label_filter(filters.get("label", []))
        by_name = filters.get("names", [])
        prefixes = filters.get("name", [])
        id_prefixes = filters.get("id", [])
        out = []
        for record in lookup.in_id_order(self._records().values()):
            name = record["Spec"]["Name"]
            if (by_name or prefixes or id_prefixes) and not (
                    name in by_name or any(name.startswith(p) for p in prefixes)
                    or any(record["ID"].startswith(p) for p in id_prefixes)):
                continue  # names, name prefixes and ID prefixes: any of them (swarmkit ORs them)
            if lookup.labels_match(record["Spec"]["Labels"], wanted):
                out.append(self.view(record))
        return out

    def view(self, record: dict) -> dict:
        """The object as dockerd shows it: a secret without its data."""
        shown = {**record, "Spec": dict(record["Spec"])}
        if not self.kind.shows_data:
            shown["Spec"].pop("Data", None)
        return gojson.encode(gojson.decode(shown, self.kind.record_type), self.kind.record_type)

    def data(self, object_id: str) -> bytes:
        """The object's content, for a task's file."""
        record = self._records().get(object_id)
        if record is None:
            raise NotFound(f"{self.kind.name} {object_id} not found")
        return gojson.decode(record["Spec"], self.kind.spec_type)["Data"] or b""

