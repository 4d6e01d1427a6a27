"""Services: create, inspect (with ``insertDefaults``), list (filters, ``status``), update (with rollback), remove.

The spec is stored as dockerd stores it (:mod:`berth.swarm.servicespec`), checked as
swarmkit checks it (:mod:`berth.swarm.validation`); network targets are resolved to
the IDs of the swarm's networks; secrets and configs must exist under the names
given. An update names the version it was made from (an older one is "update out of
sequence"), keeps the previous spec for ``rollback=previous``, and may neither
rename the service nor change its mode. The orchestrator does the rest.
"""

from __future__ import annotations

import copy
from typing import Any

from berth.errors import BerthError, Conflict, InvalidArgument
from berth.swarm import apitypes, gojson, ids, lookup, servicespec, validation
from berth.swarm.store import timestamp

FILTERS = ("name", "id", "label", "mode", "runtime")


def rpc(code: str, message: str) -> str:
    return f"rpc error: code = {code} desc = {message}"


class Unimplemented(BerthError):
    status = 501


class Services:
    def __init__(self, swarm: Any):
        self.swarm = swarm
        self.store = swarm.store

    def _records(self) -> dict[str, dict]:
        return self.store.objects("services")

    def get(self, ref: str) -> dict:
        return lookup.find(self._records(), ref, "service", lambda r: r["Spec"]["Name"])

    # -- views ----------------------------------------------------------------

    def view(self, record: dict, insert_defaults: bool = False, status: bool = False) -> dict:
        public = {k: v for k, v in record.items() if not k.startswith("_")}
        value = gojson.decode(public, apitypes.Service)
        if insert_defaults:
            value["Spec"] = servicespec.with_defaults(value["Spec"])
        if status:
            value["ServiceStatus"] = self.swarm.orchestrator.service_status(record)
        return gojson.encode(value, apitypes.Service)

    def list(self, filters: dict[str, list[str]], status: bool) -> list[dict]:
        lookup.check_filters(filters, FILTERS)
        wanted = lookup.label_filter(filters.get("label", []))
        runtimes = filters.get("runtime") or ["container"]
        out = []
        for record in lookup.in_id_order(self._records().values()):
            spec = record["Spec"]
            if (lookup.prefix_match(spec["Name"], filters.get("name"))
                    and lookup.prefix_match(record["ID"], filters.get("id"))
                    and lookup.labels_match(spec.get("Labels"), wanted)
                    and "container" in runtimes
                    and lookup.exact_match(_mode_name(spec), filters.get("mode"))):
                out.append(self.view(record, status=status))
        return out

    # -- create ---------------------------------------------------------------

    def _prepare(self, request: dict) -> dict:
        """The request's spec made ready to store: networks resolved, converted, checked."""
        request = copy.deepcopy(request)
        networks = request["TaskTemplate"]["Networks"] or request["Networks"] or []
        for attachment in networks:
            attachment["Target"] = self.swarm.networking.resolve(attachment["Target"])
        spec = servicespec.canonical(request)
        validation.check_service(spec)
        self.swarm.networking.check_attachments(spec["TaskTemplate"]["Networks"] or [])
        return spec

    def create(self, request: dict, registry_auth: str) -> tuple[str, list[str] | None]:
        """``request`` is a decoded ServiceSpec; the new service's ID and the warnings."""
        spec = self._prepare(request)
        self._check_ports(spec, None)
        if any(r["Spec"]["Name"] == spec["Name"] for r in self._records().values()):
            raise Conflict(rpc("AlreadyExists", f"name conflicts with an existing object: service {spec['Name']} "
                                                  "already exists")) from None
        self._check_references(spec)
        record = {"ID": ids.new_id(), "Spec": gojson.encode(spec, apitypes.ServiceSpec),
                  "Endpoint": self.swarm.networking.endpoint(spec, None), "_registry_auth": registry_auth}
        if _is_job(spec):
            record["JobStatus"] = {"JobIteration": {"Index": 0}, "LastExecution": timestamp()}
        self.store.put("services", record, created=True)
        self.swarm.event("service", "create", record["ID"], spec["Name"])
        self.swarm.orchestrator.wake()
        return record["ID"], None

    def _check_references(self, spec: dict) -> None:
        container = spec["TaskTemplate"]["ContainerSpec"]
        for field, kind, objects in (("Secrets", "secret", self.swarm.secrets), ("Configs", "config",
                                                                                 self.swarm.configs)):
            prefix = kind.capitalize()
            missing = [ref[f"{prefix}Name"] for ref in container[field] or []
                       if self.store.objects(objects.kind.plural).get(ref[f"{prefix}ID"], {}).get("Spec", {}).get(
                           "Name") != ref[f"{prefix}Name"]]
            if missing:
                noun = kind if len(missing) == 1 else kind + "s"
                raise InvalidArgument(rpc("InvalidArgument", f"{noun} not found: {', '.join(missing)}"))

    def _check_ports(self, spec: dict, service_id: str | None) -> None:
        """Published ports conflict with another service's ingress ports (host-mode ones may repeat)."""
        ours = [(p["PublishedPort"], p["Protocol"], p["PublishMode"])
                for p in (spec["EndpointSpec"] or {}).get("Ports") or [] if p["PublishedPort"]]
        for record in self._records().values():
            if record["ID"] == service_id:
                continue
            theirs = (record["Spec"].get("EndpointSpec") or {}).get("Ports", []) + record["Endpoint"].get("Ports", [])
            for port in theirs:
                for number, protocol, mode in ours:
                    if port.get("PublishedPort") != number or port.get("Protocol", "tcp") != protocol:
                        continue
                    their_mode = port.get("PublishMode", "ingress")
                    if mode == "host" and their_mode == "ingress":
                        raise InvalidArgument(rpc("InvalidArgument", f"port '{number}' is already in use by service "
                                                  f"'{record['Spec']['Name']}' ({record['ID']}) as a host-published "
                                                  "port"))
                    if mode == "ingress":
                        raise InvalidArgument(rpc("InvalidArgument", f"port '{number}' is already in use by service "
                                                  f"'{record['Spec']['Name']}' ({record['ID']}) as an ingress port"))

    # -- update and remove ----------------------------------------------------

    def update(self, ref: str, version: int, request: dict, registry_auth: str, auth_from: str,
               rollback: str) -> list[str] | None:
        spec = self._prepare(request)
        record = self.get(ref)
        if rollback not in ("", "none", "previous"):
            raise InvalidArgument(f"unrecognized rollback option {rollback}")
        if auth_from not in ("", "spec", "previous-spec"):
            raise InvalidArgument("unsupported registryAuthFrom value")
        if auth_from == "previous-spec" and not registry_auth and record.get("PreviousSpec") is None:
            raise InvalidArgument("service does not have a previous spec")
        current = gojson.decode(record["Spec"], apitypes.ServiceSpec)
        if spec["EndpointSpec"] is not None and spec["EndpointSpec"] != current["EndpointSpec"]:
            self._check_ports(spec, record["ID"])
        self._check_update(record, current, spec)
        self.store.check_version(record, version)
        if registry_auth:
            record["_registry_auth"] = registry_auth
        if rollback == "previous":
            self._roll_back(record)
        else:
            record["PreviousSpec"] = record["Spec"]
            record["Spec"] = gojson.encode(spec, apitypes.ServiceSpec)
            record.pop("UpdateStatus", None)
            if record.get("JobStatus"):
                record["JobStatus"] = {"JobIteration": {"Index": record["JobStatus"]["JobIteration"].get("Index", 0)
                                                        + 1}, "LastExecution": timestamp()}
        record["Endpoint"] = self.swarm.networking.endpoint(gojson.decode(record["Spec"], apitypes.ServiceSpec),
                                                            record.get("Endpoint"))
        self.swarm.orchestrator.updater.cancel(record["ID"])
        self.store.put("services", record)
        self.swarm.event("service", "update", record["ID"], spec["Name"])
        self.swarm.orchestrator.wake()
        return None

    def _check_update(self, record: dict, current: dict, spec: dict) -> None:
        if ((spec["Networks"] or current["Networks"]) and spec["Networks"] != current["Networks"]
                and spec["TaskTemplate"]["Networks"] == current["TaskTemplate"]["Networks"]):
            raise Unimplemented(rpc("Unimplemented", "networks must be migrated to TaskSpec before being changed"))
        self._check_references(spec)
        if _mode_of(spec) != _mode_of(current):
            raise Unimplemented(rpc("Unimplemented", "service mode change is not allowed"))
        if spec["Name"] != current["Name"]:
            raise Unimplemented(rpc("Unimplemented", "renaming services is not supported"))

    def _roll_back(self, record: dict) -> None:
        if record.get("PreviousSpec") is None:
            raise InvalidArgument(rpc("FailedPrecondition", f"service {record['ID']} does not have a previous spec"))
        record["Spec"], record["PreviousSpec"] = record["PreviousSpec"], record["Spec"]
        record["UpdateStatus"] = {"State": "rollback_started", "StartedAt": timestamp(),
                                  "Message": "manually requested rollback"}

    def remove(self, ref: str) -> None:
        record = self.get(ref)
        self.swarm.orchestrator.updater.cancel(record["ID"])
        self.store.delete("services", record["ID"])
        self.swarm.event("service", "remove", record["ID"], record["Spec"]["Name"])
        self.swarm.orchestrator.wake()


def _is_job(spec: dict) -> bool:
    mode = spec["Mode"]
    return mode.get("ReplicatedJob") is not None or mode.get("GlobalJob") is not None


def _mode_of(spec: dict) -> str:
    """Which of the four modes a decoded spec has."""
    return next(key for key, value in spec["Mode"].items() if value is not None)


def _mode_name(spec_json: dict) -> str:
    mode = spec_json.get("Mode") or {}
    for key, name in (("Global", "global"), ("Replicated", "replicated"), ("ReplicatedJob", "replicated-job"),
                      ("GlobalJob", "global-job")):
        if key in mode:
            return name
    return "replicated"
