"""The differences from dockerd's answers that berth keeps on purpose, each with its reason.

An entry matches a :class:`~tests.compat.shape_diff.Difference` by request label, kind and JSON
path (``fnmatch`` patterns). ``tests/compat/test_api_shapes.py`` fails on every difference that no
entry allows, and on every entry that no longer matches anything (so the list cannot go stale).

An entry with an ``owner`` is work in progress elsewhere (another change owns that behaviour); it
may stop matching when that work lands, and should then be deleted. A ``sometimes`` entry depends
on timing, so a run need not see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

from tests.compat.shape_diff import Difference


@dataclass(frozen=True)
class Allowed:
    label: str
    kind: str
    path: str
    reason: str
    owner: str | None = None  # who is changing this behaviour now, when someone is
    sometimes: bool = False  # depends on timing, so a run may not see it

    def matches(self, d: Difference) -> bool:
        return (fnmatchcase(d.label, self.label) and fnmatchcase(d.kind, self.kind)
                and fnmatchcase(d.path, self.path))


BERTH_FACTS = "berth's own facts (its pluggable drivers, their status and call counts); clients skip fields they do not know"
OMITTED_WHEN_EMPTY = "a field of API 1.42+ that dockerd leaves out when empty (omitempty), and berth has none of"
NEVER_500 = "dockerd answers this bad input with an untyped 500; berth's rule is that bad input is a 4xx"

ALLOWED: list[Allowed] = [
    # berth's additions
    *(Allowed("GET /info", "extra", field, BERTH_FACTS) for field in (
        "BerthDrivers", "DefaultNetworkDriver", "DriverCalls", "ExecDriver", "ExecDriverStatus", "ExecRoot",
        "NetworkDrivers")),
    Allowed("GET /containers/{id}/json*", "extra", "ExecDriver",
            "which of berth's exec drivers (native, oci) runs the container; clients skip unknown fields"),
    # newer than dockerd 20.10, and empty here
    Allowed("*", "spec-missing", "*ClusterVolume", OMITTED_WHEN_EMPTY + " (swarm cluster volumes)"),
    Allowed("GET /containers/{id}/json*", "spec-missing", "HostConfig.Annotations", OMITTED_WHEN_EMPTY),
    Allowed("GET /info", "spec-missing", "Runtimes.*.status", OMITTED_WHEN_EMPTY + " (a runtime's status)"),
    # status codes
    Allowed("GET /services/{id}/logs", "status", "", NEVER_500 + " (no stream chosen)"),
    Allowed("GET /tasks/{id}/logs", "status", "", NEVER_500 + " (no stream chosen)"),
    Allowed("POST /plugins/create (empty context)", "status", "", NEVER_500 + " (a context without config.json)"),
    Allowed("POST /build (no Dockerfile)", "status", "", NEVER_500 + " (no Dockerfile in the context)"),
    Allowed("POST /containers/{id}/unpause (not paused)", "status", "",
            "dockerd's 'is not paused' is an untyped 500 (still in dockerd 26); berth answers 409 Conflict, "
            "as for every other request that does not fit the container's state"),
    Allowed("POST /plugins/pull (unreachable registry)", "status", "",
            "berth runs no managed plugins: it refuses an install with 501 and the reason before contacting "
            "the registry, where dockerd fails on the registry (500)"),
    Allowed("POST /containers/{id}/wait (next-exit of a created one)", "status", "",
            "an unknown wait condition: dockerd 20.10 ignores it, dockerd 23+ (the daemons of API 1.45) "
            "refuse it with 400, as berth does"),
    Allowed("PUT /volumes/{name} (not a cluster volume)", "status", "",
            "an API 1.42 route dockerd 20.10 does not have (404); dockerd 23+ answers 503 outside a swarm, as berth"),
    # content types
    Allowed("GET /containers/{id}/logs*", "content-type", "",
            "dockerd 20.10 sends no Content-Type on logs; dockerd 23+ sends raw-stream to clients older than "
            "API 1.42 and multiplexed-stream (without a tty) from 1.42, as berth does"),
    Allowed("GET /containers/{id}/json (health)", "spec-missing", "Config.Healthcheck.StartInterval",
            OMITTED_WHEN_EMPTY + " (the healthcheck's start interval, API 1.44)"),
    Allowed("GET /containers/{id}/json (created)", "extra", "HostConfig.Runtime",
            "berth records the runtime when create checks it exists; dockerd 20.10 writes it at the first start. "
            "Once the container ran, both show the same"),
    Allowed("GET /containers/{id}/json (health)", "type", "ExecIDs",
            "a healthcheck probe is an exec that lives for milliseconds: whether one is running at the moment "
            "inspect asks is chance, on either daemon", sometimes=True),
]


def reason_for(d: Difference) -> str | None:
    """Why ``d`` is allowed, or None when it is not."""
    for entry in ALLOWED:
        if entry.matches(d):
            return entry.reason
    return None
