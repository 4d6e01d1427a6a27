"""Finding swarm objects as dockerd does, and its list filters.

A reference is tried as a full ID, then as an exact name, then as an ID prefix;
none is a 404 "<kind> X not found", several a 400 "<kind> X is ambiguous (N matches
found)". Lists come in ID order (swarmkit's store index). Filters: the keys each
route accepts (another is a 400 "Invalid filter 'key'"), several values of one key
match any of them, several keys must all match.
"""

from __future__ import annotations

from typing import Callable, Iterable

from berth.errors import InvalidArgument, NotFound


def find(records: dict[str, dict], ref: str, kind: str, name_of: Callable[[dict], str]) -> dict:
    if ref in records:
        return records[ref]
    by_name = [r for r in records.values() if name_of(r) == ref]
    matches = by_name or [r for r in records.values() if ref and r["ID"].startswith(ref)]
    if not matches:
        raise NotFound(f"{kind} {ref} not found")
    if len(matches) > 1:
        raise InvalidArgument(f"{kind} {ref} is ambiguous ({len(matches)} matches found)")
    return matches[0]


def in_id_order(records: Iterable[dict]) -> list[dict]:
    return sorted(records, key=lambda r: r["ID"])


def check_filters(filters: dict[str, list[str]], accepted: Iterable[str]) -> None:
    for key in filters:
        if key not in accepted:
            raise InvalidArgument(f"Invalid filter '{key}'")


def label_filter(values: list[str]) -> dict[str, str]:
    """``key=value`` and ``key`` filter values as swarmkit's label map (an empty value: the key must exist)."""
    out = {}
    for value in values:
        key, _, wanted = value.partition("=")
        out[key] = wanted
    return out


def labels_match(labels: dict | None, wanted: dict[str, str]) -> bool:
    labels = labels or {}
    return all(k in labels and (not v or labels[k] == v) for k, v in wanted.items())


def prefix_match(text: str, prefixes: list[str] | None) -> bool:
    return not prefixes or any(text.startswith(p) for p in prefixes)


def exact_match(text: str, values: list[str] | None) -> bool:
    return not values or text in values
