"""The node's agent: runs a task as a container and reports its state, as swarmkit's agent and dockerd's executor.

A task is prepared (its image present, pulled with the service's registry auth when
missing; its secret and config files written), then, once its desired state is
``running``, its container is created and started; the task is ``running`` when the
container runs (and, with a healthcheck, once it is healthy), then ``complete``
(exit 0) or ``failed`` (``task: non-zero exit (N)``). Shutting a task down stops
its container within the spec's grace period; removing it removes the container and
its files. What cannot be prepared rejects the task with the reason.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from berth import log
from berth.errors import BerthError, NotFound
from berth.swarm import taskcontainer, taskfiles, tasks as tasks_mod, templates

HEALTH_POLL = 0.5


class Agent:
    def __init__(self, swarm: Any):
        self.swarm = swarm
        self.engine = swarm.engine
        self.store = swarm.store
        self.files_root = os.path.join(self.engine.exec_root, "swarm", "tasks")
        self.running: dict[str, asyncio.Task] = {}  # task ID -> its lifecycle
        self.starting: dict[str, asyncio.Task] = {}  # task ID -> its container's create and start, under way

    # -- running --------------------------------------------------------------

    def ensure_running(self, task: dict) -> None:
        """Start the lifecycle of ``task`` unless it has one (or has already ended)."""
        if task["ID"] in self.running or tasks_mod.is_final(task["Status"]["State"]):
            return
        self.running[task["ID"]] = asyncio.create_task(self._lifecycle(task["ID"]))

    async def _lifecycle(self, task_id: str) -> None:
        try:
            await self._run(task_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not kill the orchestrator: the task fails with the reason
            log.get().error("swarm.task_error", task_id=task_id, error=repr(exc))
            task = self.store.objects("tasks").get(task_id)
            if task is not None:
                tasks_mod.set_state(self.store, task, "failed", err=str(exc))
        finally:
            self.running.pop(task_id, None)
            self.swarm.orchestrator.wake()

    def _task(self, task_id: str) -> dict | None:
        return self.store.objects("tasks").get(task_id) if self.store.state else None

    async def _run(self, task_id: str) -> None:
        task = self._task(task_id)
        if task is None:
            return
        container_id = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
        if container_id and container_id in self.engine.containers.store.containers:
            await self._watch(task_id, container_id)  # re-adopted after a berthd restart
            return
        tasks_mod.set_state(self.store, task, "pending")
        if not await self._schedule(task_id):
            return
        task = self._task(task_id)
        for state in ("assigned", "accepted", "preparing"):
            tasks_mod.set_state(self.store, task, state)
        try:
            body, name = await self._prepare(task)
        except BerthError as exc:
            tasks_mod.set_state(self.store, task, "rejected", err=exc.message)
            return
        tasks_mod.set_state(self.store, task, "ready")
        while (task := self._task(task_id)) is not None and task["DesiredState"] == "ready":
            await asyncio.sleep(0.2)  # a restart waiting out its delay
        if task is None or task["DesiredState"] not in ("running", "complete"):
            return
        tasks_mod.set_state(self.store, task, "starting")
        container_id = await self._start(task, body, name)
        if container_id:
            await self._watch(task_id, container_id)

    async def _schedule(self, task_id: str) -> bool:
        """Wait (pending) until the node can take the task: available, and satisfying its placement."""
        reported = None
        while (task := self._task(task_id)) is not None and task["DesiredState"] in ("ready", "running", "complete"):
            reason = self.swarm.scheduling_problem(task)
            if reason is None:
                task["NodeID"] = self.store.state["node"]["ID"]
                return True
            if reason != reported:
                tasks_mod.set_state(self.store, task, "pending", message=reason)
                reported = reason
            await asyncio.sleep(1)
        return False

    async def _prepare(self, task: dict) -> tuple[dict, str]:
        service = self.store.objects("services").get(task["ServiceID"])
        if service is None:
            raise BerthError("service removed")
        service_name = service["Spec"]["Name"]
        name = tasks_mod.name(task, service_name)
        values = self._template_values(task, service, name)
        task_spec = {**task["Spec"], "ContainerSpec": templates.expand_container_spec(task["Spec"]["ContainerSpec"],
                                                                                     values)}
        image = task_spec["ContainerSpec"]["Image"]
        await self._ensure_image(image, service.get("_registry_auth", ""))
        files = await asyncio.to_thread(self._write_files, task, values)
        network, endpoint, ports = self.swarm.networking.for_task(task, service)
        body = taskcontainer.create_body({**task, "Spec": task_spec}, service_name, name, files, network, endpoint,
                                         ports)
        return body, name

    def _template_values(self, task: dict, service: dict, name: str) -> dict:
        node = {"ID": task["NodeID"], **{k: v for k, v in self.swarm.describe_node().items()
                                        if k in ("Hostname", "Platform")}}
        return templates.context(service["ID"], service["Spec"]["Name"], service["Spec"].get("Labels"), node,
                                 task["ID"], name, str(task["Slot"] or task["NodeID"]))

    async def _ensure_image(self, image: str, registry_auth: str) -> None:
        try:
            self.engine.images.get(image)
            return
        except BerthError:
            pass
        from berth.registry import auth, reference as refs
        from berth.registry.progress import Progress
        from berth.registry.service import service_of

        try:
            await service_of(self.engine).pull(refs.parse(image), Progress(), auth.decode_header(registry_auth or None))
        except BerthError as exc:
            raise BerthError(f"No such image: {image} ({exc.message})") from None

    def _write_files(self, task: dict, values: dict) -> list[dict]:
        container = task["Spec"]["ContainerSpec"]
        references = [("secret", r) for r in container.get("Secrets") or []]
        references += [("config", r) for r in container.get("Configs") or []]
        return taskfiles.write(self.files_root, task["ID"], references,
                               lambda kind, object_id: self._content(kind, object_id, container, values),
                               self._host_ids)

    def _host_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The host ids a container's uid and gid are (the same, unless berthd remaps user namespaces)."""
        remapping = getattr(self.engine, "remapping", None)
        if remapping is None:
            return uid, gid
        host_uid, host_gid = remapping.idmap.host_uid(uid), remapping.idmap.host_gid(gid)
        if host_uid is None or host_gid is None:
            raise BerthError(f"uid {uid} or gid {gid} is outside the remapped user namespace's ranges")
        return host_uid, host_gid

    def _content(self, kind: str, object_id: str, container: dict, values: dict) -> bytes:
        objects = self.swarm.secrets if kind == "secret" else self.swarm.configs
        data = objects.data(object_id)
        record = self.store.objects(objects.kind.plural)[object_id]
        if not (record["Spec"].get("Templating") or {}).get("Name"):
            return data
        env = dict(item.partition("=")[::2] for item in container.get("Env") or [])
        functions = {"env": lambda key: env.get(key, ""),
                     "secret": lambda target: self._referenced("Secrets", "secret", target, container),
                     "config": lambda target: self._referenced("Configs", "config", target, container)}
        return templates.expand(data.decode(errors="replace"), values, functions).encode()

    def _referenced(self, field: str, kind: str, target: str, container: dict) -> str:
        objects = self.swarm.secrets if kind == "secret" else self.swarm.configs
        for ref in container.get(field) or []:
            if (ref.get("File") or {}).get("Name") == target:
                return objects.data(ref[f"{kind.capitalize()}ID"]).decode(errors="replace")
        raise BerthError(f"{kind} target {target} not found")

    async def _start(self, task: dict, body: dict, name: str) -> str | None:
        """Create and start the task's container. Shielded: a lifecycle cancelled midway must not leave a
        container made but not recorded in the task, or half started (:meth:`_settle` waits for it)."""
        job = asyncio.ensure_future(self._create_and_start(task, body, name))
        self.starting[task["ID"]] = job
        job.add_done_callback(lambda _: self.starting.pop(task["ID"], None))
        return await asyncio.shield(job)

    async def _settle(self, task_id: str) -> None:
        """Wait for the create and start of the task's container, if under way."""
        job = self.starting.get(task_id)
        if job is not None:
            await asyncio.wait([job])
            if not job.cancelled():
                job.exception()  # seen here: the lifecycle that awaited it may be gone

    async def _create_and_start(self, task: dict, body: dict, name: str) -> str | None:
        manager = self.engine.containers
        try:
            container, _ = await manager.create(body, name)
        except BerthError as exc:
            tasks_mod.set_state(self.store, task, "rejected", err=exc.message)
            return None
        status = {"ContainerID": container.id, "PID": 0, "ExitCode": 0}
        tasks_mod.set_state(self.store, task, "starting", container=status)
        try:
            await self.swarm.networking.connect_others(task, container.id)
            await manager.start(container.id)
        except BerthError as exc:
            tasks_mod.set_state(self.store, task, "failed", err=exc.message, container=status)
            return None
        attachments = self.swarm.networking.task_attachments(task, container.id)
        if attachments:
            task["NetworksAttachments"] = attachments
        host_ports = self.swarm.networking.for_task(task, self.store.objects("services")[task["ServiceID"]])[2] \
            if task["ServiceID"] in self.store.objects("services") else []
        if host_ports:
            task["Status"]["PortStatus"] = {"Ports": host_ports}
        return container.id

    async def _watch(self, task_id: str, container_id: str) -> None:
        """Follow the container until it exits: running (once healthy), then complete or failed."""
        manager = self.engine.containers
        waiter = asyncio.ensure_future(manager.wait(container_id, "not-running"))
        try:
            await self._wait_healthy(task_id, container_id, waiter)
            code, _ = await waiter
        except NotFound:
            code = 137
        finally:
            waiter.cancel()
        task = self._task(task_id)
        if task is None:
            return
        status = {"ContainerID": container_id, "PID": 0, "ExitCode": code}
        if task["DesiredState"] in ("shutdown", "remove") or task["Status"]["State"] == "shutdown":
            tasks_mod.set_state(self.store, task, "shutdown", container=status)
        elif code == 0:
            tasks_mod.set_state(self.store, task, "complete", container=status)
        else:
            tasks_mod.set_state(self.store, task, "failed", err=f"task: non-zero exit ({code})", container=status)

    async def _wait_healthy(self, task_id: str, container_id: str, waiter: asyncio.Future) -> None:
        container = self.engine.containers.store.containers.get(container_id)
        task = self._task(task_id)
        if container is None or task is None:
            return
        status = {"ContainerID": container_id, "PID": container.state.pid or 0, "ExitCode": 0}
        while not waiter.done() and (container.state.health or {}).get("Status") == "starting" \
                and container.config.get("Healthcheck"):
            await asyncio.sleep(HEALTH_POLL)
        health = (container.state.health or {}).get("Status")
        if waiter.done():
            return
        if health == "unhealthy":
            await self.engine.containers.kill(container_id, "SIGKILL")
            task = self._task(task_id)
            if task is not None:
                tasks_mod.set_state(self.store, task, "failed", err="task: non-zero exit (137): dockerexec: unhealthy "
                                    "container", container={**status, "ExitCode": 137})
            return
        tasks_mod.set_state(self.store, task, "running", container=status)

    # -- stopping and removing ------------------------------------------------

    async def shutdown(self, task: dict) -> None:
        """Stop the task's container within its grace period (10 s unless the spec says otherwise)."""
        await self._settle(task["ID"])  # a container being started is stopped once it runs
        container_id = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
        if container_id and container_id in self.engine.containers.store.containers:
            grace = task["Spec"]["ContainerSpec"].get("StopGracePeriod")
            timeout = 10 if grace is None else max(0, round(grace / 1e9))
            container = self.engine.containers.store.containers[container_id]
            if container.state.running:
                await self.engine.containers.stop(container_id, timeout)
        lifecycle = self.running.get(task["ID"])
        if lifecycle is not None and not container_id:
            lifecycle.cancel()
        if not tasks_mod.is_final(task["Status"]["State"]):
            tasks_mod.set_state(self.store, task, "shutdown")

    def forget_files(self) -> None:
        """Every task's files (at ``swarm leave``)."""
        import shutil

        shutil.rmtree(self.files_root, ignore_errors=True)

    async def remove(self, task: dict) -> None:
        """Remove the task's container (forced, with its anonymous volumes kept as dockerd does) and files."""
        await self._settle(task["ID"])
        lifecycle = self.running.pop(task["ID"], None)
        if lifecycle is not None:
            lifecycle.cancel()
            await asyncio.wait([lifecycle])  # its files are written, or never will be
        container_id = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
        if container_id and container_id in self.engine.containers.store.containers:
            try:
                await self.engine.containers.remove(container_id, force=True)
                self.engine.execs.forget_container(container_id)
            except NotFound:
                pass
        await asyncio.to_thread(taskfiles.remove, self.files_root, task["ID"])

