"""The swarm's state: one JSON file under ``<data-root>/swarm``, replaced atomically on every change.

swarmkit keeps its objects in a raft log whose index is every object's
``Version.Index``: each write takes the next index, so versions only grow and an
update naming an older one is refused ("update out of sequence"). :class:`SwarmStore`
keeps the same counter. Objects are kept as the JSON dockerd would show for them
(:func:`berth.swarm.gojson.encode` of their type), plus a few private fields whose
names start with ``_`` (secret data, registry auth), never shown. The directory is
0700 and the file 0600: it holds secrets and the CA key's neighbour.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from typing import Any

from berth.errors import BerthError
from berth.fsutil import atomic_write

KINDS = ("services", "tasks", "secrets", "configs", "networks")


def timestamp() -> str:
    """Now in Go's RFC 3339 with nanoseconds (trailing zeros of the fraction dropped)."""
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    fraction = f"{nanos:09d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


class OutOfSequence(BerthError):
    """An update named a version that is not the object's current one (swarmkit's sequence conflict)."""

    def __init__(self) -> None:
        super().__init__("rpc error: code = Unknown desc = update out of sequence")


class SwarmStore:
    """The state of the one swarm this node belongs to, or nothing (``state is None``) outside a swarm."""

    def __init__(self, directory: str):
        self.directory = directory
        self.path = os.path.join(directory, "state.json")
        self.state: dict[str, Any] | None = self._load()

    def _load(self) -> dict[str, Any] | None:
        try:
            with open(self.path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return None

    # -- lifecycle ------------------------------------------------------------

    def create(self, state: dict[str, Any]) -> None:
        """Start a swarm's state (``swarm init``): ``state`` holds the cluster and node records."""
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self.state = {"index": 0, **{kind: {} for kind in KINDS}, **state}
        self.save()

    def clear(self) -> None:
        """Forget the swarm (``swarm leave``): the state and the CA go."""
        self.state = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def save(self) -> None:
        if self.state is not None:
            atomic_write(self.path, json.dumps(self.state, separators=(",", ":")).encode(), 0o600)

    # -- versions -------------------------------------------------------------

    def next_index(self) -> int:
        self.state["index"] += 1
        return self.state["index"]

    def stamp(self, record: dict, created: bool = False) -> dict:
        """Give ``record`` the next version and the update time (and the creation time when new)."""
        now = timestamp()
        record["Version"] = {"Index": self.next_index()}
        if created:
            record["CreatedAt"] = now
        record["UpdatedAt"] = now
        return record

    @staticmethod
    def check_version(record: dict, version: int) -> None:
        if record["Version"]["Index"] != version:
            raise OutOfSequence()

    # -- objects --------------------------------------------------------------

    def objects(self, kind: str) -> dict[str, dict]:
        return self.state[kind]

    def put(self, kind: str, record: dict, created: bool = False) -> dict:
        """Store ``record`` (stamped with a new version) and save."""
        self.stamp(record, created)
        self.state[kind][record["ID"]] = record
        self.save()
        return record

    def delete(self, kind: str, object_id: str) -> None:
        self.state[kind].pop(object_id, None)
        self.save()
