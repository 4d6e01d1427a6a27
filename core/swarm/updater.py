"""Rolling updates and rollbacks: replacing a service's tasks whose spec changed, as swarmkit's updater does.

Tasks are replaced in batches of ``Parallelism`` (0: all at once), ``stop-first``
(the old task stops, then the new one starts) or ``start-first``; each batch's new
tasks are watched for ``Monitor``, then ``Delay`` passes before the next batch. A
new task that fails counts against ``MaxFailureRatio``; beyond it the
``FailureAction`` applies: ``pause`` (``UpdateStatus`` paused), ``continue``, or
``rollback`` (the previous spec comes back, replaced the same way with the
``RollbackConfig``). ``UpdateStatus`` says where the update is, with dockerd's messages.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from berth import log
from berth.swarm import tasks as tasks_mod
from berth.swarm.store import timestamp

SECOND = 1_000_000_000
POLL = 0.2
DEFAULTS = {"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 5 * SECOND, "MaxFailureRatio": 0,
            "Order": "stop-first"}


class Updater:
    def __init__(self, orchestrator: Any):
        self.orchestrator = orchestrator
        self.store = orchestrator.store
        self._jobs: dict[str, asyncio.Task] = {}
        self.holding: set[str] = set()  # new tasks kept ready until the task they replace has stopped

    def running(self) -> list[asyncio.Task]:
        return list(self._jobs.values())

    def cancel(self, service_id: str) -> None:
        job = self._jobs.pop(service_id, None)
        if job is not None:
            job.cancel()

    def dirty(self, service: dict) -> list[dict]:
        """The service's running tasks whose spec is not the service's current one, by slot."""
        wanted = self.orchestrator.task_spec_of(service)
        live = [t for t in self.store.objects("tasks").values() if t["ServiceID"] == service["ID"]
                and t["DesiredState"] == "running" and not tasks_mod.is_final(t["Status"]["State"])]
        return sorted((t for t in live if t["Spec"] != wanted), key=lambda t: t["Slot"])

    def check(self, service: dict) -> None:
        """Start updating ``service`` if some of its tasks run an older spec (unless paused or already updating)."""
        job = self._jobs.get(service["ID"])
        if job is not None and not job.done():
            return
        state = (service.get("UpdateStatus") or {}).get("State")
        if state in ("paused", "rollback_paused") or not self.dirty(service):
            return
        self._jobs[service["ID"]] = asyncio.create_task(self._update(service["ID"]))

    def _service(self, service_id: str) -> dict | None:
        return self.store.objects("services").get(service_id) if self.store.state else None

    def _set_status(self, service: dict, state: str, message: str, done: bool = False) -> None:
        status = dict(service.get("UpdateStatus") or {})
        if not status or state in ("updating", "rollback_started") and not status.get("StartedAt"):
            status["StartedAt"] = timestamp()
        status.update({"State": state, "Message": message})
        if done:
            status["CompletedAt"] = timestamp()
        service["UpdateStatus"] = status
        self.store.put("services", service)

    async def _update(self, service_id: str) -> None:
        service = self._service(service_id)
        if service is None:
            return
        rollback = (service.get("UpdateStatus") or {}).get("State") == "rollback_started"
        key = "RollbackConfig" if rollback else "UpdateConfig"
        config = {**DEFAULTS, **{k: v for k, v in (service["Spec"].get(key) or {}).items()}}
        if not config.get("Monitor"):
            config["Monitor"] = DEFAULTS["Monitor"]
        if not rollback:
            self._set_status(service, "updating", "update in progress")
        with log.job("swarm.update", service_id=service_id[:12], rollback=rollback) as ev:
            failed = await self._batches(service_id, config)
            ev["failed_task"] = failed or ""
        service = self._service(service_id)
        if service is None:
            return
        if failed:
            self._on_failure(service, config["FailureAction"], failed, rollback)
        else:
            self._set_status(service, "rollback_completed" if rollback else "completed",
                             "rollback completed" if rollback else "update completed", done=True)
        if self._jobs.get(service_id) is asyncio.current_task():
            del self._jobs[service_id]
        self.orchestrator.wake()

    async def _batches(self, service_id: str, config: dict) -> str | None:
        """Replace the dirty tasks batch by batch; the ID of a new task that failed beyond the ratio, if any."""
        failures, total = 0, 0
        while (service := self._service(service_id)) is not None:
            dirty = self.dirty(service)
            if not dirty:
                return None
            batch = dirty[:config["Parallelism"] or len(dirty)]
            new = await asyncio.gather(*(self._replace(service, t, config["Order"]) for t in batch))
            total += len(new)
            failed = await self._monitor([t for t in new if t], config["Monitor"] / SECOND)
            failures += len(failed)
            if failed and failures > config["MaxFailureRatio"] * max(total, 1):
                if config["FailureAction"] != "continue":
                    return failed[0]
            if config["Delay"]:
                await asyncio.sleep(config["Delay"] / SECOND)
        return None

    async def _replace(self, service: dict, old: dict, order: str) -> str | None:
        """One slot's old task replaced by a task with the current spec; the new task's ID."""
        if order == "start-first":
            new = tasks_mod.new_task(self.store, service, old["Slot"], old["NodeID"])
            self.orchestrator.wake()
            await self._until(new["ID"], lambda t: t["Status"]["State"] == "running" or tasks_mod.is_final(
                t["Status"]["State"]))
            tasks_mod.set_desired(self.store, old, "shutdown")
        else:  # the slot keeps a (ready) task while the old one stops, as swarmkit's updater does
            new = tasks_mod.new_task(self.store, service, old["Slot"], old["NodeID"], desired="ready")
            self.holding.add(new["ID"])
            try:
                tasks_mod.set_desired(self.store, old, "shutdown")
                self.orchestrator.wake()
                await self._until(old["ID"], lambda t: tasks_mod.is_final(t["Status"]["State"]))
            finally:
                self.holding.discard(new["ID"])
            current = self.store.objects("tasks").get(new["ID"]) if self.store.state else None
            if current is not None:
                tasks_mod.set_desired(self.store, current, "running")
        self.orchestrator.wake()
        return new["ID"]

    async def _until(self, task_id: str, condition) -> None:
        while self.store.state is not None:
            task = self.store.objects("tasks").get(task_id)
            if task is None or condition(task):
                return
            await asyncio.sleep(POLL)

    async def _monitor(self, task_ids: list[str], seconds: float) -> list[str]:
        """Watch new tasks until they run and for ``seconds`` after; the ones that failed or stopped early."""
        deadline = time.monotonic() + seconds
        failed: list[str] = []
        while task_ids and time.monotonic() < deadline:
            for task_id in task_ids:
                task = self.store.objects("tasks").get(task_id) if self.store.state else None
                if task is None or task["Status"]["State"] in ("failed", "rejected", "complete", "shutdown"):
                    failed.append(task_id)
            task_ids = [t for t in task_ids if t not in failed]
            await asyncio.sleep(POLL)
        return failed

    def _on_failure(self, service: dict, action: str, task_id: str, rollback: bool) -> None:
        if rollback or action == "pause":
            state = "rollback_paused" if rollback else "paused"
            what = "rollback" if rollback else "update"
            self._set_status(service, state, f"{what} paused due to failure or early termination of task {task_id}")
        elif action == "rollback" and service.get("PreviousSpec"):
            service["Spec"], service["PreviousSpec"] = service["PreviousSpec"], service["Spec"]
            service["UpdateStatus"] = {"State": "rollback_started", "StartedAt": timestamp(),
                                       "Message": f"update rolled back due to failure or early termination of task "
                                                  f"{task_id}"}
            self.store.put("services", service)
