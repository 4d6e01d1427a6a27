"""swarmkit's checks of a service spec (``validateServiceSpec``), with its messages.

They run on the stored form (:func:`berth.swarm.servicespec.canonical`), after the
conversion's own refusals, and answer ``rpc error: code = InvalidArgument`` (400).
"""

from __future__ import annotations

import re

from berth.errors import BerthError, InvalidArgument
from berth.images import reference
from berth.swarm import placement, templates

DNS_NAME = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
MIN_DURATION = 1_000_000  # 1 ms


def invalid(message: str) -> InvalidArgument:
    return InvalidArgument(f"rpc error: code = InvalidArgument desc = {message}")


def check_service(spec: dict) -> None:
    _annotations(spec["Name"])
    _task(spec["TaskTemplate"])
    mode = spec["Mode"]
    is_job = mode["ReplicatedJob"] is not None or mode["GlobalJob"] is not None
    if is_job and spec["UpdateConfig"] is not None:
        raise invalid("Jobs may not have an update config")
    if not is_job:
        _update(spec["UpdateConfig"])
    _endpoint(spec["EndpointSpec"])


def _annotations(name: str) -> None:
    if not name:
        raise invalid("meta: name must be provided")
    if not DNS_NAME.match(name):
        raise invalid("name must be valid as a DNS name component")
    if len(name) > 63:
        raise invalid("name must be 63 characters or fewer")


def _task(template: dict) -> None:
    resources = template["Resources"] or {}
    for part in (resources.get("Limits"), resources.get("Reservations")):
        _resources(part)
    policy = template["RestartPolicy"] or {}
    if (policy.get("Delay") or 0) < 0:
        raise invalid("TaskSpec: restart-delay cannot be negative")
    if (policy.get("Window") or 0) < 0:
        raise invalid("TaskSpec: restart-window cannot be negative")
    placement.parse((template["Placement"] or {}).get("Constraints") or [])
    container = template["ContainerSpec"]
    _references(container["Secrets"] or [], "secret", "Secret")
    _references(container["Configs"] or [], "config", "Config")
    _container(container)


def _resources(r: dict | None) -> None:
    if not r:
        return
    cpus, memory = r.get("NanoCPUs", 0), r.get("MemoryBytes", 0)
    if cpus and cpus < 1_000_000:
        raise invalid(f"invalid cpu value {_go_float(cpus / 1e9)}: Must be at least 0.001")
    if memory and memory < 4 * 1024 * 1024:
        raise invalid(f"invalid memory value {memory}: Must be at least 4MiB")


def _go_float(value: float) -> str:
    """Go's ``%g``."""
    return f"{value:g}"


def _references(refs: list[dict], kind: str, prefix: str) -> None:
    seen: dict[str, str] = {}
    for ref in refs:
        if not ref[f"{prefix}ID"] or not ref[f"{prefix}Name"]:
            raise invalid(f"malformed {kind} reference")
        if ref["File"] is None and ref.get("Runtime") is None:
            raise invalid(f"malformed {kind} reference, no target provided")
        if ref["File"] is not None:
            name = ref["File"]["Name"]
            if not name:
                raise invalid(f"malformed file {kind} reference, invalid target file name provided")
            if name in seen:
                raise invalid(f"{kind} references '{seen[name]}' and '{ref[prefix + 'Name']}' have a conflicting "
                              f"target: '{name}'")
            seen[name] = ref[f"{prefix}Name"]


def _container(c: dict) -> None:
    values = templates.context("serviceid", "servicename", {}, {"ID": "nodeid", "Hostname": "nodeHostname",
                                                                "Platform": {"OS": "os", "Architecture": "architecture"}},
                               "taskid", "taskname", "1")
    try:
        expanded = templates.expand_container_spec(c, values)
    except InvalidArgument as exc:
        raise invalid(exc.message) from None
    image = expanded["Image"]
    if not image:
        raise invalid("ContainerSpec: image reference must be provided")
    try:
        reference.parse(image)
    except BerthError:
        raise invalid(f'ContainerSpec: "{image}" is not a valid repository/tag') from None
    targets = set()
    for mount in expanded["Mounts"] or []:
        if mount["Target"] in targets:
            raise invalid(f"ContainerSpec: duplicate mount point: {mount['Target']}")
        targets.add(mount["Target"])
    _healthcheck(c["Healthcheck"])


def _healthcheck(h: dict | None) -> None:
    if h is None:
        return
    for key in ("Interval", "Timeout", "StartPeriod"):
        if h[key] and h[key] < MIN_DURATION:
            raise invalid(f"ContainerSpec: {key} in HealthConfig cannot be less than 1ms")
    if h["Retries"] < 0:
        raise invalid("ContainerSpec: Retries in HealthConfig cannot be negative")


def _update(u: dict | None) -> None:
    if u is None:
        return
    if u["Delay"] < 0:
        raise invalid("TaskSpec: update-delay cannot be negative")
    if u["Monitor"] < 0:
        raise invalid("TaskSpec: update-monitor cannot be negative")
    if not 0 <= u["MaxFailureRatio"] <= 1:
        raise invalid("TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1")


def _endpoint(e: dict | None) -> None:
    if e is None:
        return
    seen = set()
    for port in e["Ports"] or []:
        if e["Mode"] == "dnsrr" and port["PublishMode"] == "ingress":
            raise invalid("EndpointSpec: port published with ingress mode can't be used with dnsrr mode")
        if not port["PublishedPort"]:
            continue
        key = (port["PublishedPort"], port["Protocol"])
        if key in seen:
            raise invalid("EndpointSpec: duplicate published ports provided")
        seen.add(key)
