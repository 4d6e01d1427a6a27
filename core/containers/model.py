"""The container record and its state machine.

A container's record is persisted as ``<data-root>/containers/<id>/config.json``.
``config`` and ``host_config`` keep Docker's create-request shapes (``Config`` and
``HostConfig`` of the Engine API) because that is what ``inspect`` must give back;
everything the engine derives is a typed field.
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from berth.containers.jsonlog import parse_timestamp
from berth.errors import Conflict

ZERO_TIME = "0001-01-01T00:00:00Z"


def now_rfc3339() -> str:
    """Now, as Docker writes times in records (UTC, microseconds, ``Z``)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(text: str) -> float:
    """Unix seconds of a record's time; Go's zero time (never happened) is 0."""
    return 0.0 if not text or text.startswith("0001-") else parse_timestamp(text)


class State(str, enum.Enum):
    """Docker's seven container states (``State.Status``)."""

    CREATED = "created"
    RESTARTING = "restarting"
    RUNNING = "running"
    REMOVING = "removing"
    PAUSED = "paused"
    EXITED = "exited"
    DEAD = "dead"


#: Allowed moves of the state machine; anything else is a 409 naming both states.
TRANSITIONS: dict[State, set[State]] = {
    State.CREATED: {State.RUNNING, State.EXITED, State.REMOVING, State.DEAD},
    State.RUNNING: {State.PAUSED, State.EXITED, State.RESTARTING, State.DEAD},
    State.PAUSED: {State.RUNNING, State.EXITED, State.DEAD},
    State.RESTARTING: {State.RUNNING, State.EXITED, State.REMOVING, State.DEAD},
    State.EXITED: {State.RUNNING, State.RESTARTING, State.REMOVING, State.DEAD},
    State.REMOVING: {State.DEAD},
    State.DEAD: {State.REMOVING},
}


@dataclass
class ContainerState:
    status: State = State.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    #: Docker's State.Health (Status, FailingStreak, Log) once a container with a healthcheck has started
    health: dict[str, Any] | None = None

    @property
    def running(self) -> bool:
        return self.status in (State.RUNNING, State.PAUSED, State.RESTARTING)


@dataclass
class Container:
    id: str
    name: str  # without Docker's leading "/"
    created: str
    image_id: str
    config: dict[str, Any]  # Docker's Config (Image, Cmd, Entrypoint, Env, WorkingDir, Tty, ...)
    host_config: dict[str, Any]  # Docker's HostConfig
    path: str = ""
    args: list[str] = field(default_factory=list)
    state: ContainerState = field(default_factory=ContainerState)
    graph_driver: str = ""
    exec_driver: str = ""
    layer_id: str = ""  # the graph driver's id of the container's read-write layer
    rootfs: str = ""  # where that layer is mounted while the container runs
    hostname: str = ""
    network: str = ""  # while running: the network whose endpoint carries the published ports ("" for none)
    #: per network name, Docker's endpoint settings (see :mod:`berth.containers.endpoints`):
    #: what the client asked for, the network id once joined, and while running what the driver reported
    endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: list[dict[str, Any]] = field(default_factory=list)  # published bindings while running
    mounts: list[dict[str, Any]] = field(default_factory=list)  # Docker's MountPoint records (volumes, binds, tmpfs)
    restart_count: int = 0
    manually_stopped: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    exec_ids: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def transition(self, new: State) -> None:
        """Move to ``new``; a move the state machine forbids is a 409 naming both states."""
        old = self.state.status
        if new == old:
            return
        if new not in TRANSITIONS[old]:
            raise Conflict(f"cannot move container {self.short_id} from {old.value} to {new.value}")
        self.state.status = new

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["state"]["status"] = self.state.status.value
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Container":
        record = dict(record)
        state = dict(record.pop("state"))
        state["status"] = State(state["status"])
        known = set(cls.__dataclass_fields__)
        return cls(state=ContainerState(**state), **{k: v for k, v in record.items() if k in known})
