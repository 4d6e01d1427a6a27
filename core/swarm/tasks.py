"""Tasks: the records of a service's slots, their states and how ``/tasks`` shows and filters them.

A task is one run of a service's container on the node. Its observed state moves
forward through swarmkit's states (new, pending, assigned, accepted, preparing,
ready, starting, running, then complete, shutdown, failed or rejected) and never
back; its desired state says what the orchestrator wants (ready while a restart
waits out its delay, running, shutdown when replaced, remove when its service is
gone). A task's name is ``service.slot.id`` (``service.node.id`` for global
services), and so is its container's.
"""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.swarm import apitypes, gojson, ids, lookup, servicespec
from berth.swarm.store import SwarmStore, timestamp

STATES = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running", "complete",
          "shutdown", "failed", "rejected", "remove", "orphaned")
FINAL = ("complete", "shutdown", "failed", "rejected", "remove", "orphaned")
FILTERS = ("name", "id", "label", "service", "node", "desired-state", "_up-to-date", "runtime")
MESSAGES = {"new": "created", "pending": "pending task scheduling", "assigned": "scheduler assigned task to node",
            "accepted": "accepted", "preparing": "preparing", "ready": "prepared", "starting": "starting",
            "running": "started", "complete": "finished", "shutdown": "shutdown", "failed": "started",
            "rejected": "preparing"}


def order(state: str) -> int:
    return STATES.index(state)


def is_final(state: str) -> bool:
    return order(state) >= order("complete")


def new_task(store: SwarmStore, service: dict, slot: int, node_id: str, desired: str = "running") -> dict:
    """A new task of ``service`` for ``slot``, or (slot 0) a global service's task on ``node_id``: the
    scheduler gives a replicated task its node later, when it assigns it."""
    spec = gojson.decode(service["Spec"], apitypes.ServiceSpec)
    task = {
        "ID": ids.new_id(), "Labels": {},
        "Spec": gojson.encode(servicespec.task_spec(spec), apitypes.TaskSpec),
        "ServiceID": service["ID"], "Slot": slot, "NodeID": "" if slot else node_id,
        "Status": {"Timestamp": timestamp(), "State": "new", "Message": "created", "PortStatus": {}},
        "DesiredState": desired,
        "_service_labels": dict(spec["Labels"] or {}),  # swarmkit keeps the service's annotations in its tasks
    }
    if service.get("JobStatus"):
        task["JobIteration"] = dict(service["JobStatus"]["JobIteration"])
    store.put("tasks", task, created=True)
    return task


def name(task: dict, service_name: str) -> str:
    """``service.slot.id``, or ``service.node.id`` for a task without a slot (global services)."""
    return f"{service_name}.{task['Slot'] or task['NodeID']}.{task['ID']}"


def set_state(store: SwarmStore, task: dict, state: str, message: str | None = None, err: str | None = None,
              container: dict | None = None) -> None:
    """Move the task's observed state forward (never back) and save."""
    status = task["Status"]
    if order(state) < order(status["State"]):
        return
    status.update({"Timestamp": timestamp(), "State": state, "Message": message or MESSAGES.get(state, state)})
    if err:
        status["Err"] = err
    if container is not None:
        status["ContainerStatus"] = container
    store.put("tasks", task)


def set_desired(store: SwarmStore, task: dict, desired: str) -> None:
    if task["DesiredState"] != desired:
        task["DesiredState"] = desired
        store.put("tasks", task)


def json(task: dict) -> dict:
    """The task as dockerd shows it."""
    public = {k: v for k, v in task.items() if not k.startswith("_")}
    return gojson.encode(gojson.decode(public, apitypes.Task), apitypes.Task)


def matching(records: list[dict], filters: dict[str, list[str]], service_ids: list[str], node_ids: list[str],
             names: dict[str, str]) -> list[dict]:
    """The tasks ``filters`` select (``service`` and ``node`` already resolved to IDs; ``names``: task names;
    ``label`` matches the labels of the task's service, as swarmkit matches them)."""
    desired = []
    for value in filters.get("desired-state", []):
        if value.lower() not in STATES:
            if value:
                raise InvalidArgument(f"Invalid desired-state filter: '{value}'")
            continue
        desired.append(value.lower())
    wanted = lookup.label_filter(filters.get("label", []))
    runtimes = filters.get("runtime") or ["container", ""]
    out = []
    for task in lookup.in_id_order(records):
        if (lookup.prefix_match(names[task["ID"]], filters.get("name"))
                and lookup.prefix_match(task["ID"], filters.get("id"))
                and lookup.labels_match(task.get("_service_labels"), wanted)
                and lookup.exact_match(task["ServiceID"], service_ids)
                and lookup.exact_match(task["NodeID"], node_ids)
                and lookup.exact_match(task["DesiredState"], desired)
                and lookup.exact_match("container", [r or "container" for r in runtimes])):
            out.append(task)
    return out
