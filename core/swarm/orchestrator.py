"""The orchestrator: keeps every service's tasks as its spec asks, as swarmkit's orchestrators do on one node.

One loop, woken by every change (and every second): for each service it makes the
tasks its mode wants (replicas, one per node for global services, jobs until their
completions are done), replaces tasks that ended according to the task's restart
policy (condition, delay, attempts within a window), shuts down tasks beyond the
count or on a drained node, hands tasks whose spec changed to the updater, and
tasks of removed services are shut down and removed. The agent runs the tasks; the
task history kept per slot is the swarm's ``TaskHistoryRetentionLimit``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from berth import log
from berth.swarm import apitypes, gojson, servicespec, tasks as tasks_mod
from berth.swarm.agent import Agent
from berth.swarm.updater import Updater

TICK = 1.0
SECOND = 1_000_000_000


class Orchestrator:
    def __init__(self, swarm: Any):
        self.swarm = swarm
        self.store = swarm.store
        self.agent = Agent(swarm)
        self.updater = Updater(self)
        self._wake = asyncio.Event()
        self._loop: asyncio.Task | None = None
        self.start_at: dict[str, float] = {}  # task ID -> when its restart delay ends
        self.restarts: dict[tuple, list[float]] = {}  # (service, slot or node) -> restart times
        self._stopping: dict[str, asyncio.Task] = {}  # task ID -> its shutdown or removal

    # -- the loop -------------------------------------------------------------

    def start(self) -> None:
        if self._loop is None or self._loop.done():
            self._loop = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop orchestrating, and wait until no task is half started; task containers keep running (they are
        re-adopted at the next start)."""
        jobs = [t for t in (self._loop, *self.agent.running.values(), *self._stopping.values(),
                            *self.updater.running()) if t is not None]
        for job in jobs:
            job.cancel()
        # the containers' creates and starts under way are not cancelled: they end, started or undone
        await asyncio.gather(*jobs, *self.agent.starting.values(), return_exceptions=True)
        self.swarm.networking.mesh.close()
        self._loop = None
        self.agent.running.clear()
        self._stopping.clear()

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), TICK)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep orchestrating: one bad pass must not stop the swarm
                log.get().error("swarm.reconcile_failed", error=repr(exc))

    async def reconcile(self) -> None:
        if self.store.state is None or self.swarm.cluster.locked:
            return
        services = self.store.objects("services")
        for service in list(services.values()):
            self._reconcile_service(service)
        for task in list(self.store.objects("tasks").values()):
            self._drive(task, services.get(task["ServiceID"]))
        self._reap()
        await self.swarm.networking.publish()
        if any(r.get("Removing") for r in self.store.objects("networks").values()):
            await asyncio.to_thread(self.swarm.networking.networks.collect, self._network_in_use)

    def _network_in_use(self, network_id: str) -> bool:
        return any(record.get("network_id") == network_id and record.get("endpoint_id")
                   for c in self.swarm.engine.containers.store.containers.values()
                   for record in c.endpoints.values())

    # -- services -------------------------------------------------------------

    def _tasks_of(self, service: dict) -> list[dict]:
        return [t for t in self.store.objects("tasks").values() if t["ServiceID"] == service["ID"]]

    def _reconcile_service(self, service: dict) -> None:
        spec = gojson.decode(service["Spec"], apitypes.ServiceSpec)
        mode = spec["Mode"]
        self._release_delayed(self._tasks_of(service))
        if mode["ReplicatedJob"] is not None or mode["GlobalJob"] is not None:
            self._reconcile_job(service, spec)
            return
        for task in self._tasks_of(service):
            if task["DesiredState"] in ("ready", "running") and tasks_mod.is_final(task["Status"]["State"]):
                self._restart(service, spec, task)
        drained = self.store.state["node"]["Spec"]["Availability"] == "drain"
        if drained:  # the node's tasks stop; a replicated service's replacements wait (pending) for a node
            for task in self._tasks_of(service):
                if task["NodeID"] and task["DesiredState"] in ("ready", "running"):
                    tasks_mod.set_desired(self.store, task, "shutdown")
        slots = self._slots(service, spec)
        global_mode = mode["Global"] is not None
        wanted = (0 if drained else 1) if global_mode else mode["Replicated"]["Replicas"]
        self._scale(service, slots, wanted, global_mode=global_mode)
        self.updater.check(service)

    def _slots(self, service: dict, spec: dict) -> dict[int, list[dict]]:
        """The service's occupied slots (global: slot 0) with their live tasks (desired ready or running); a
        slot whose last task ended and is not to be restarted (condition none, on-failure after a success,
        attempts used up) stays occupied by it, as swarmkit's ``UpdatableTasksInSlot`` keeps it."""
        by_slot: dict[int, list[dict]] = {}
        for task in self._tasks_of(service):
            by_slot.setdefault(task["Slot"], []).append(task)
        occupied = {}
        for slot, tasks in by_slot.items():
            live = [t for t in tasks if t["DesiredState"] in ("ready", "running")]
            newest = max(tasks, key=lambda t: t["CreatedAt"])
            if live:
                occupied[slot] = live
            elif newest["DesiredState"] == "shutdown" and not self._should_restart(service, spec, newest):
                occupied[slot] = []
        return occupied

    def _release_delayed(self, tasks: list[dict]) -> None:
        """A replacement waits out its restart delay with desired state ``ready``, then runs (one the updater
        holds waits for the task it replaces; one from before a restart of berthd goes at once)."""
        now = time.monotonic()
        for task in tasks:
            if task["DesiredState"] == "ready" and task["ID"] not in self.updater.holding \
                    and self.start_at.get(task["ID"], 0) <= now:
                self.start_at.pop(task["ID"], None)
                tasks_mod.set_desired(self.store, task, "complete" if task.get("JobIteration") else "running")

    def _scale(self, service: dict, slots: dict[int, list[dict]], wanted: int, global_mode: bool) -> None:
        """Tasks for missing slots (the lowest free numbers); the tasks of the slots beyond ``wanted`` removed."""
        node_id = self.store.state["node"]["ID"]
        free = [0] if global_mode else [s for s in range(1, wanted + len(slots) + 1) if s not in slots]
        if wanted < len(slots):
            for slot in sorted(slots, reverse=True)[:len(slots) - wanted]:
                for task in slots[slot]:
                    tasks_mod.set_desired(self.store, task, "remove")
        for slot in free[:max(0, wanted - len(slots))]:  # scheduled by the agent when the node can take them
            tasks_mod.new_task(self.store, service, slot, node_id)

    def _reconcile_job(self, service: dict, spec: dict) -> None:
        """A job runs its tasks to completion: ``MaxConcurrent`` at a time until ``TotalCompletions`` completed
        (one per node for a global job); failed tasks are restarted, an update starts a new iteration."""
        iteration = service["JobStatus"]["JobIteration"]["Index"]
        for task in self._tasks_of(service):
            if (task.get("JobIteration") or {}).get("Index") != iteration:
                if task["DesiredState"] in ("ready", "running", "complete"):
                    tasks_mod.set_desired(self.store, task, "shutdown")
            elif task["DesiredState"] == "complete" and task["Status"]["State"] in ("failed", "rejected", "shutdown"):
                self._restart(service, spec, task)
        current = [t for t in self._tasks_of(service) if (t.get("JobIteration") or {}).get("Index") == iteration]
        completed = sum(t["Status"]["State"] == "complete" for t in current)
        active = [t for t in current if t["DesiredState"] in ("ready", "complete")
                  and not tasks_mod.is_final(t["Status"]["State"])]
        if spec["Mode"]["GlobalJob"] is not None:
            total, concurrent = 1, 1
        else:
            total, concurrent = (spec["Mode"]["ReplicatedJob"]["TotalCompletions"],
                                 spec["Mode"]["ReplicatedJob"]["MaxConcurrent"])
        used = {t["Slot"] for t in current if t["Status"]["State"] == "complete" or t in active}
        missing = max(0, min(concurrent - len(active), total - completed - len(active)))
        node_id = self.store.state["node"]["ID"]
        slots = [s for s in range(total) if s not in used] if spec["Mode"]["GlobalJob"] is None else [0]
        for slot in slots[:missing]:
            if self.store.state["node"]["Spec"]["Availability"] == "active":
                tasks_mod.new_task(self.store, service, slot, node_id, desired="complete")

    # -- restarts -------------------------------------------------------------

    def _restart(self, service: dict, spec: dict, task: dict) -> None:
        """swarmkit's restart supervisor: the ended task is shut down; a replacement follows if the policy says."""
        tasks_mod.set_desired(self.store, task, "shutdown")
        if not self._should_restart(service, spec, task):
            return
        replacement = tasks_mod.new_task(self.store, service, task["Slot"], task["NodeID"], desired="ready")
        policy = task["Spec"].get("RestartPolicy") or {}
        delay = policy.get("Delay", 5 * SECOND) if self.store.state["node"]["Spec"]["Availability"] != "drain" else 0
        self.start_at[replacement["ID"]] = time.monotonic() + delay / SECOND
        asyncio.get_running_loop().call_later(delay / SECOND, self.wake)
        self.restarts.setdefault((service["ID"], task["Slot"] or task["NodeID"]), []).append(time.monotonic())

    def _should_restart(self, service: dict, spec: dict, task: dict) -> bool:
        policy = task["Spec"].get("RestartPolicy") or {}
        condition = policy.get("Condition", "any")
        completed = task["Status"]["State"] == "complete"
        is_job = spec["Mode"]["ReplicatedJob"] is not None or spec["Mode"]["GlobalJob"] is not None
        if condition == "none" or completed and (condition == "on-failure" or is_job):
            return False
        attempts = policy.get("MaxAttempts", 0)
        if not attempts:
            return True
        history = self.restarts.get((service["ID"], task["Slot"] or task["NodeID"]), [])
        window = policy.get("Window", 0)
        if window:
            history = [t for t in history if t > time.monotonic() - window / SECOND]
        return len(history) < attempts

    # -- tasks ----------------------------------------------------------------

    def _drive(self, task: dict, service: dict | None) -> None:
        """Make the agent do what the task's desired state says."""
        if service is None and task["DesiredState"] != "remove":
            tasks_mod.set_desired(self.store, task, "remove")
        desired = task["DesiredState"]
        if desired in ("ready", "running", "complete"):
            if task["ID"] not in self._stopping:
                self.agent.ensure_running(task)
        elif desired == "shutdown" and not tasks_mod.is_final(task["Status"]["State"]):
            self._in_background(task, self.agent.shutdown(task))
        elif desired == "remove":
            self._in_background(task, self._remove(task))

    def _in_background(self, task: dict, work) -> None:
        if task["ID"] in self._stopping:
            work.close()
            return
        job = asyncio.create_task(work)
        self._stopping[task["ID"]] = job
        job.add_done_callback(lambda _: (self._stopping.pop(task["ID"], None), self.wake()))

    async def _remove(self, task: dict) -> None:
        await self.agent.shutdown(task)
        await self.agent.remove(task)
        if self.store.state is not None:
            self.store.delete("tasks", task["ID"])

    def _reap(self) -> None:
        """swarmkit's task reaper: per slot, the ``TaskHistoryRetentionLimit`` newest tasks are kept (a restart
        policy's ``MaxAttempts`` + 1 when set), older ended ones go with their containers."""
        limit = self.store.state["cluster"]["spec"]["TaskHistoryRetentionLimit"]
        by_slot: dict[tuple, list[dict]] = {}
        for task in self.store.objects("tasks").values():
            by_slot.setdefault((task["ServiceID"], task["Slot"] or task["NodeID"]), []).append(task)
        for slot_tasks in by_slot.values():
            attempts = (slot_tasks[0]["Spec"].get("RestartPolicy") or {}).get("MaxAttempts", 0)
            keep = attempts + 1 if attempts else limit
            if keep < 0 or len(slot_tasks) <= keep:
                continue
            ended = [t for t in sorted(slot_tasks, key=lambda t: t["CreatedAt"])
                     if tasks_mod.is_final(t["Status"]["State"]) and t["DesiredState"] != "remove"]
            for task in ended[:len(slot_tasks) - keep]:
                tasks_mod.set_desired(self.store, task, "remove")

    # -- status ---------------------------------------------------------------

    def service_status(self, service: dict) -> dict:
        """``ServiceStatus`` of ``services?status=true``: running, desired and completed tasks."""
        spec = service["Spec"]
        mode = spec.get("Mode") or {}
        iteration = (service.get("JobStatus") or {}).get("JobIteration", {}).get("Index")
        running = desired = completed = 0
        if "Replicated" in mode:
            desired = mode["Replicated"].get("Replicas", 0)
        elif "ReplicatedJob" in mode:
            desired = mode["ReplicatedJob"].get("MaxConcurrent", 0)
        for task in self.store.objects("tasks").values():
            if task["ServiceID"] != service["ID"]:
                continue
            if iteration is not None:
                if (task.get("JobIteration") or {}).get("Index") != iteration:
                    continue
                completed += task["Status"]["State"] == "complete"
            running += task["Status"]["State"] == "running"
            if "Global" in mode or "GlobalJob" in mode:
                desired += task["DesiredState"] == "running" or (
                    task["DesiredState"] == "complete" and task["Status"]["State"] != "complete")
        return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": completed}

    @staticmethod
    def task_spec_of(service: dict) -> dict:
        return gojson.encode(servicespec.task_spec(gojson.decode(service["Spec"], apitypes.ServiceSpec)),
                             apitypes.TaskSpec)
