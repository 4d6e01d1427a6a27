"""Moby's Engine API spec v1.45 for schemathesis, and the routes of it that berthd serves.

The spec is kept as Moby publishes it (``tests/data/moby-engine-api-v1.45.yaml``, see the README
there); two facts about dockerd's real answers are applied when it is loaded:

* Go encodes a nil slice or map as ``null``: dockerd answers ``null`` for many arrays and objects
  the spec does not mark ``x-nullable`` (empty prune results, image labels, GenericResources...).
  Every array and object is therefore allowed to be null (the shape checker in ``tests/compat``
  compares berth's nulls with dockerd's one by one).
* Go encodes a nil pointer as ``null`` too: dockerd (20.10, asked) answers ``null`` for the scalar fields
  in :data:`NIL_POINTERS` when they were never set (a container created without ``MemorySwappiness``, an
  exec that has not ended).
* Request bodies of ``application/x-tar`` (build contexts, archives, images) are sent as the raw
  bytes schemathesis generates for them.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[1] / "data" / "moby-engine-api-v1.45.yaml"
API_PREFIX = "/v1.45"
#: Routes of the spec that berthd does not serve (the README's "Not served"); both answer 404.
NOT_SERVED = {"GET /containers/{id}/attach/ws", "POST /session"}
#: (definition, or "METHOD /path" of an inline response schema; property): scalars dockerd answers null
NIL_POINTERS = {("Resources", "MemorySwappiness"), ("GET /exec/{id}/json", "ExitCode")}


def _allow_go_nulls(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") in ("array", "object"):
            node["x-nullable"] = True
        for value in node.values():
            _allow_go_nulls(value)
    elif isinstance(node, list):
        for value in node:
            _allow_go_nulls(value)


def _allow_nil_pointers(document: dict) -> None:
    for where, name in NIL_POINTERS:
        if " " in where:
            method, path = where.split(" ", 1)
            schema = document["paths"][path][method.lower()]["responses"][200]["schema"]
        else:
            schema = document["definitions"][where]
        schema["properties"][name]["x-nullable"] = True


@lru_cache(maxsize=1)
def load():
    """The schemathesis schema of the spec (cached: parsing 12,700 lines of YAML takes seconds)."""
    import schemathesis
    import yaml

    document = yaml.safe_load(SPEC_PATH.read_text())
    _allow_go_nulls(document.get("definitions"))
    for path in document["paths"].values():
        for operation in path.values():
            if isinstance(operation, dict):
                _allow_go_nulls(operation.get("responses"))
    _allow_nil_pointers(document)
    schemathesis.serializer.alias(["application/x-tar"], "application/octet-stream")
    return schemathesis.openapi.from_dict(document)


def route_key(operation) -> str:
    return f"{operation.method.upper()} {operation.path}"


def served_routes() -> set[str]:
    """``METHOD /path`` of every route berthd registers, written as the spec writes them."""
    from berth.api.server import registered_routes

    return {f"{method} {path}" for method, path in registered_routes()}


@lru_cache(maxsize=1)
def operations() -> dict[str, Any]:
    """The spec's operations berthd serves, by ``METHOD /path``."""
    served = served_routes()
    out = {}
    for result in load().get_all_operations():
        operation = result.ok()
        key = route_key(operation)
        if key in served and key not in NOT_SERVED:
            out[key] = operation
    return out


def unfuzzed_routes() -> list[str]:
    """Routes of the spec that are neither fuzzed nor listed as not served (should be none)."""
    fuzzed = set(operations())
    return sorted(route_key(r.ok()) for r in load().get_all_operations()
                  if route_key(r.ok()) not in fuzzed | NOT_SERVED)
