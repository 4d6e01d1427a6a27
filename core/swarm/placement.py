"""Placement constraints (``node.role==manager``...): parsed as swarmkit parses them, matched against the node.

A task whose constraints the node does not satisfy (or whose platforms do not
include the node's) stays ``pending`` with swarmkit's message, as on a swarm where
no node fits.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from berth.errors import InvalidArgument

KEY = re.compile(r"^[a-z_][a-z0-9\-_.]+$", re.I)
VALUE = re.compile(r"^[a-z0-9:\-_\s.*()?+\[\]\\^$|/]+$", re.I)
OPERATORS = ("==", "!=")


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool
    value: str

    def matches(self, actual: str) -> bool:
        return (self.value.lower() == actual.lower()) == self.equal


def parse(expressions: list[str]) -> list[Constraint]:
    """swarmkit's ``constraint.Parse`` (its errors are dockerd's untyped 500s: a 400 here, bad input)."""
    out = []
    for expression in expressions:
        op = next((o for o in OPERATORS if o in expression), None)
        if op is None:
            raise InvalidArgument(f"rpc error: code = Unknown desc = constraint expected one operator from "
                             f"{', '.join(OPERATORS)}")
        key, value = (part.strip() for part in expression.split(op, 1))
        if not KEY.match(key):
            raise InvalidArgument(f"rpc error: code = Unknown desc = key '{key}' is invalid")
        if not VALUE.match(value):
            raise InvalidArgument(f"rpc error: code = Unknown desc = value '{value}' is invalid")
        out.append(Constraint(key, op == "==", value))
    return out


def node_matches(constraints: list[Constraint], node: dict) -> bool:
    """Whether ``node`` (a Go value of :data:`berth.swarm.apitypes.Node`) satisfies every constraint."""
    for c in constraints:
        key = c.key.lower()
        if key == "node.ip":
            if not _ip_matches(c, node["Status"]["Addr"]):
                return False
            continue
        actual = _node_value(key, c.key, node)
        if actual is None or not c.matches(actual):
            return False
    return True


def _node_value(key: str, raw_key: str, node: dict) -> str | None:
    description = node["Description"]
    simple = {"node.id": node["ID"], "node.hostname": description["Hostname"], "node.role": node["Spec"]["Role"],
              "node.platform.os": description["Platform"]["OS"],
              "node.platform.arch": description["Platform"]["Architecture"]}
    if key in simple:
        return simple[key]
    for prefix, labels in (("node.labels.", node["Spec"]["Labels"]),
                           ("engine.labels.", description["Engine"].get("Labels"))):
        if key.startswith(prefix) and len(key) > len(prefix):
            return (labels or {}).get(raw_key[len(prefix):], "")  # the label itself is case-sensitive
    return None  # an unknown key matches no node


def _ip_matches(c: Constraint, address: str) -> bool:
    try:
        node_ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    try:
        inside = node_ip == ipaddress.ip_address(c.value)
    except ValueError:
        try:
            inside = node_ip in ipaddress.ip_network(c.value, strict=False)
        except ValueError:
            return False
    return inside == c.equal


def platform_matches(platforms: list[dict] | None, node: dict) -> bool:
    if not platforms:
        return True
    ours = node["Description"]["Platform"]
    return any((not p.get("OS") or p["OS"].lower() == ours["OS"].lower())
               and (not p.get("Architecture") or _arch(p["Architecture"]) == _arch(ours["Architecture"]))
               for p in platforms)


def _arch(name: str) -> str:
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name.lower(), name.lower())
