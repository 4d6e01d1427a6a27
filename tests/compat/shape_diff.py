"""Compare two JSON answers' shapes, with the spec saying which objects are maps and which fields are new.

The real dockerd's answer is the reference. Differences are reported by JSON path (fields joined
by ``.``, array items as ``[]``, map values as ``*``):

* ``type``: the same field has another JSON type (null, object, array, string, number, boolean) —
  ``null`` vs ``[]`` vs ``{}`` counts, because clients test for it;
* ``missing``: dockerd sends the field, berth does not;
* ``extra``: berth sends a field dockerd does not, and the field is not one the v1.45 spec added
  after v1.41 (dockerd 20.10 speaks 1.41, so it cannot send those);
* ``spec-missing``: a field the v1.45 spec added after v1.41, which berth does not send.

Map keys are data (labels, networks by name), so for a map only the values' shapes are compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator

from tests.compat.spec import EMPTY, Schema


@dataclass(frozen=True, order=True)
class Difference:
    """One difference between the two answers to one request."""

    label: str  # the request, e.g. "GET /containers/{id}/json (running)"
    path: str  # JSON path within the answer ("" for the whole answer)
    kind: str  # status, content-type, type, missing, extra, spec-missing, message-missing, message-extra
    dockerd: str
    berth: str

    def row(self) -> tuple[str, str, str, str, str]:
        return self.label, self.kind, self.path or "-", self.dockerd, self.berth


def json_type(value: Any) -> str:
    """JSON's type names; Go writes every number the same way, so int and float are both ``number``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def describe(value: Any) -> str:
    """A short rendering of a value's shape: ``null``, ``[]``, ``{}``, ``array``, ``string``..."""
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, dict) and not value:
        return "{}"
    return json_type(value)


@dataclass(frozen=True)
class Schemas:
    """The spec's shape at the same place in v1.45 and in v1.41."""

    new: Schema = EMPTY
    old: Schema = EMPTY

    def field(self, name: str) -> "Schemas":
        return Schemas(self.new.field(name), self.old.field(name))

    def value(self) -> "Schemas":
        return Schemas(self.new.value(), self.old.value())

    def item(self) -> "Schemas":
        return Schemas(self.new.item(), self.old.item())

    @property
    def is_map(self) -> bool:
        return self.new.is_map or self.old.is_map

    def added_after_41(self, name: str) -> bool:
        return self.new.has_field(name) and self.old.known and not self.old.has_field(name)


def join(path: str, part: str) -> str:
    return f"{path}.{part}" if path and not part.startswith("[") else path + part


def compare(label: str, dockerd: Any, berth: Any, schemas: Schemas, maps: frozenset[str] = frozenset(),
            path: str = "") -> list[Difference]:
    """Every shape difference between ``dockerd``'s and ``berth``'s answers (deduplicated, sorted).

    ``maps`` names JSON paths the spec does not document but which are maps in dockerd's answers.
    """
    return sorted(set(_walk(label, dockerd, berth, schemas, maps, path)))


def _walk(label: str, a: Any, b: Any, schemas: Schemas, maps: frozenset[str], path: str) -> Iterator[Difference]:
    if json_type(a) != json_type(b):
        yield Difference(label, path, "type", describe(a), describe(b))
    elif isinstance(a, dict):
        if schemas.is_map or path in maps:
            yield from _walk_map(label, a, b, schemas.value(), maps, join(path, "*"))
        else:
            yield from _walk_object(label, a, b, schemas, maps, path)
    elif isinstance(a, list) and a and b:
        for left, right in paired_items(a, b):
            yield from _walk(label, left, right, schemas.item(), maps, join(path, "[]"))


# how the items of lists whose order or content is data are matched (mounts, components, containers by name)
IDENTITY_KEYS = ("Destination", "Name", "Names", "RepoTags", "Id")


def paired_items(a: list, b: list) -> list[tuple[Any, Any]]:
    """Which item of dockerd's list is compared with which of berth's.

    Objects with an identity field (a mount's Destination, a component's Name) pair by it, since
    dockerd's order is a Go map's; when no identity pairs anything, items pair by position and the
    longer list's rest is compared with the other's first item.
    """
    for key in IDENTITY_KEYS:
        if all(isinstance(item, dict) and key in item for item in (*a, *b)):
            by_key = {json.dumps(item[key]): item for item in b}
            pairs = [(item, by_key[json.dumps(item[key])]) for item in a if json.dumps(item[key]) in by_key]
            if pairs:
                return pairs
    return [(a[i] if i < len(a) else a[0], b[i] if i < len(b) else b[0]) for i in range(max(len(a), len(b)))]


def _walk_map(label: str, a: dict, b: dict, values: Schemas, maps: frozenset[str], path: str) -> Iterator[Difference]:
    common = [key for key in a if key in b]
    pairs = [(a[key], b[key]) for key in common] or ([(next(iter(a.values())), next(iter(b.values())))] if a and b else [])
    for left, right in pairs:
        yield from _walk(label, left, right, values, maps, path)


def _walk_object(label: str, a: dict, b: dict, schemas: Schemas, maps: frozenset[str],
                 path: str) -> Iterator[Difference]:
    for key in a:
        if key not in b:
            yield Difference(label, join(path, key), "missing", describe(a[key]), "absent")
        else:
            yield from _walk(label, a[key], b[key], schemas.field(key), maps, join(path, key))
    for key in b:
        if key in a:
            continue
        if schemas.added_after_41(key):
            continue
        documented = "in spec 1.41" if schemas.old.has_field(key) else (
            "in spec 1.45" if schemas.new.has_field(key) else "undocumented")
        yield Difference(label, join(path, key), "extra", f"absent ({documented})", describe(b[key]))
    for key in _fields_added_after_41(schemas):
        if key not in b and key not in a:
            yield Difference(label, join(path, key), "spec-missing", "absent (API 1.41)", "absent")


def _fields_added_after_41(schemas: Schemas) -> list[str]:
    return [name for name in schemas.new.field_names() if schemas.added_after_41(name)]
