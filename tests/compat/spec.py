"""Moby's Engine API spec, reduced to shapes (``engine_api_v*.json``), and walking it alongside an answer.

A :class:`Schema` is one node of a response shape: what JSON type it has, which named fields an
object has (``properties``), the value shape of a map (``additionalProperties``), the item shape
of an array. References (``$ref``) are resolved on the way, so callers only step down by field
name or into items.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Schema:
    """One node of a response shape; an empty node means "the spec says nothing here"."""

    node: dict[str, Any]
    definitions: dict[str, Any]

    def _resolved(self) -> dict[str, Any]:
        node, seen = self.node, set()
        while "$ref" in node and node["$ref"] not in seen:
            seen.add(node["$ref"])
            node = self.definitions.get(node["$ref"], {})
        return node

    def _child(self, node: dict[str, Any] | None) -> "Schema":
        return Schema(node or {}, self.definitions)

    @property
    def known(self) -> bool:
        return bool(self._resolved())

    @property
    def is_map(self) -> bool:
        """An object whose keys are data (labels, options, networks by name), not field names."""
        node = self._resolved()
        return "additionalProperties" in node and not node.get("properties")

    def field_names(self) -> list[str]:
        return list(self._resolved().get("properties") or {})

    def has_field(self, name: str) -> bool:
        return name in (self._resolved().get("properties") or {})

    def field(self, name: str) -> "Schema":
        node = self._resolved()
        properties = node.get("properties") or {}
        if name in properties:
            return self._child(properties[name])
        return self._child(node.get("additionalProperties"))

    def value(self) -> "Schema":
        """The shape of a map's values."""
        return self._child(self._resolved().get("additionalProperties"))

    def item(self) -> "Schema":
        return self._child(self._resolved().get("items"))


EMPTY = Schema({}, {})


class Spec:
    """One extracted spec file: response shapes by route template, method and status."""

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.version = data["api_version"]
        self.source = data["source"]

    def operation(self, route: str, method: str) -> dict[str, Any] | None:
        return (self.data["paths"].get(route) or {}).get(method.lower())

    def response(self, route: str, method: str, status: int) -> Schema:
        op = self.operation(route, method) or {}
        schema = ((op.get("responses") or {}).get(str(status)) or {}).get("schema")
        return Schema(schema or {}, self.data["definitions"])

    def produces(self, route: str, method: str) -> list[str]:
        op = self.operation(route, method) or {}
        return op.get("produces") or self.data.get("produces") or []


@lru_cache(maxsize=None)
def load(version: str) -> Spec:
    """The spec of API ``version`` extracted next to this module (``engine_api_v{version}.json``)."""
    return Spec(json.loads((HERE / f"engine_api_v{version}.json").read_text()))
