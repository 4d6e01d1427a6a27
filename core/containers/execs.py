"""``docker exec``: exec instances of running containers (kept in memory, as Docker does).

An exec's process is the container's own OCI ``process`` (capabilities, rlimits,
no_new_privs, environment) with the exec's command, user, working directory,
extra environment and terminal on top.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import signal
import threading
from dataclasses import dataclass, field
from typing import Any

from berth import detachkeys, log
from berth.containers import spec as ocispec
from berth.containers.model import State
from berth.containers.users import resolve_user
from berth.errors import BerthError, Conflict, ExecError, InvalidArgument, NotFound
from berth.fsutil import unix_connect
from berth.hookspecs.types import IOConfig


@dataclass
class ExecInstance:
    id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ExecManager:
    def __init__(self, containers: Any):
        self.containers = containers
        self.instances: dict[str, ExecInstance] = {}

    def get(self, exec_id: str) -> ExecInstance:
        try:
            return self.instances[exec_id]
        except KeyError:
            raise NotFound(f"No such exec instance: {exec_id}") from None

    def live_ids(self, container_id: str) -> list[str]:
        """The container's execs that have not ended (created or running), oldest first: dockerd's
        ``ExecIDs`` (it drops an exec from the container when it exits, keeping it inspectable)."""
        return [i for i, inst in self.instances.items() if inst.container_id == container_id and inst.exit_code is None]

    def socket_path(self, inst: ExecInstance) -> str:
        return os.path.join(self.containers.bundle(inst.container_id), f"exec-{inst.id[:12]}.sock")

    def create(self, container_ref: str, body: dict[str, Any]) -> ExecInstance:
        c = self.containers.get(container_ref)
        if c.state.status == State.PAUSED:
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if c.state.status != State.RUNNING:
            raise Conflict(f"Container {c.id} is not running")
        cmd = body.get("Cmd")
        if not cmd or not isinstance(cmd, list):
            raise InvalidArgument("No exec command specified")
        inst = ExecInstance(secrets.token_hex(32), c.id, dict(body))
        self.instances[inst.id] = inst
        c.exec_ids.append(inst.id)
        self.containers.event(c, "exec_create: " + _command_text(cmd), execID=inst.id)
        return inst

    def _process(self, c: Any, body: dict[str, Any]) -> dict[str, Any]:
        with open(os.path.join(self.containers.bundle(c.id), "config.json"), encoding="utf-8") as f:
            process = dict(json.load(f)["process"])
        user = resolve_user(c.rootfs, body.get("User") or c.config.get("User") or "", c.host_config.get("GroupAdd"))
        env = {e.partition("=")[0]: e for e in process.get("env", [])}
        for item in body.get("Env") or []:
            env[item.partition("=")[0]] = item
        process.update(
            args=list(body["Cmd"]), env=list(env.values()), terminal=bool(body.get("Tty")),
            cwd=body.get("WorkingDir") or process.get("cwd") or "/",
            user={"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
        )
        if body.get("Privileged"):
            caps = ocispec.host_capabilities()
            process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")} | {
                "inheritable": [], "ambient": []}
        return process

    async def start(self, exec_id: str, detach: bool) -> ExecInstance:
        """Start the process; with ``detach`` False it waits for an attacher on :meth:`socket_path`."""
        inst = self.get(exec_id)
        with log.job("exec.start", container_id=inst.container_id[:12], exec_id=inst.id[:12],
                     driver=self.containers.exec.name):
            await self._launch(inst, detach)
        return inst

    async def _launch(self, inst: ExecInstance, detach: bool) -> None:
        if inst.running:
            raise Conflict(f"Error: Exec command {inst.id} is already running")
        if inst.started:
            raise Conflict(f"Error: Exec command {inst.id} has already run")
        c = self.containers.get(inst.container_id)
        if c.state.status != State.RUNNING:
            raise Conflict(f"Container {c.id} is not running")
        inst.started = True
        body = inst.config
        io = IOConfig(log_path=None, attach_socket=self.socket_path(inst), tty=bool(body.get("Tty")),
                      open_stdin=bool(body.get("AttachStdin")), hold_until_attached=not detach)
        process = self._process(c, body)
        try:
            proc = await asyncio.to_thread(self.containers.exec.exec, c.id, inst.id, process, io)
        except ExecError as exc:
            # dockerd records 126 for any exec that could not start (its 127 for a missing command is
            # overwritten), and a bad command is the request's fault: a 400
            inst.exit_code = 126
            inst.done.set()
            raise InvalidArgument(exc.message) from exc
        inst.pid, inst.running = proc.pid, True
        self.containers.event(c, "exec_start: " + _command_text(body["Cmd"]), execID=inst.id)
        self._watch(inst)

    async def probe(self, c: Any, argv: tuple[str, ...], timeout: float) -> tuple[int, str]:
        """Run a healthcheck probe as Docker does: an exec as the container's user in its working directory,
        stdout and stderr captured together (the first 4096 bytes), killed when it outlives ``timeout``.

        Returns (exit code, output); the exec is forgotten afterwards (nobody can inspect it).
        Raises BerthError when it cannot run (the monitor records that as exit code -1).
        """
        from berth.containers.health import go_duration, limit_output

        inst = self.create(c.id, {"Cmd": list(argv), "AttachStdout": True, "AttachStderr": True,
                                  "User": c.config.get("User") or "", "WorkingDir": c.config.get("WorkingDir") or ""})
        output = bytearray()
        try:
            await self._launch(inst, detach=False)
            try:
                await asyncio.wait_for(self._capture(inst, output), timeout)
            except asyncio.TimeoutError:
                await self._kill_probe(inst)
                text = limit_output(bytes(output))
                return -1, f"Health check exceeded timeout ({go_duration(timeout)})" + (f": {text}" if text else "")
            return inst.exit_code if inst.exit_code is not None else -1, limit_output(bytes(output))
        finally:
            if inst.running:  # cancelled: the container stopped or paused meanwhile
                await self._kill_probe(inst)
            await self._forget(inst)

    async def _capture(self, inst: ExecInstance, output: bytearray) -> None:
        """Read the exec's multiplexed output until it ends, keeping one byte past what a probe keeps."""
        from berth.containers.health import MAX_OUTPUT

        sock = await asyncio.to_thread(unix_connect, self.socket_path(inst))
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        try:
            while True:
                try:
                    header = await reader.readexactly(8)
                    payload = await reader.readexactly(int.from_bytes(header[4:], "big"))
                except asyncio.IncompleteReadError:
                    break
                output += payload[:MAX_OUTPUT + 1 - len(output)]
        finally:
            writer.close()
        await inst.done.wait()

    async def _kill_probe(self, inst: ExecInstance) -> None:
        try:
            await asyncio.to_thread(self.containers.exec.exec_kill, inst.container_id, inst.id, signal.SIGKILL)
        except BerthError:
            pass  # it ended meanwhile
        try:
            await asyncio.wait_for(inst.done.wait(), 30)  # dying probes must not pile up (Docker waits too)
        except asyncio.TimeoutError:
            log.get().warning("exec.probe_unkillable", exec_id=inst.id[:12], container_id=inst.container_id[:12])

    async def _forget(self, inst: ExecInstance) -> None:
        self.instances.pop(inst.id, None)
        c = self.containers.store.containers.get(inst.container_id)
        if c is not None and inst.id in c.exec_ids:
            c.exec_ids.remove(inst.id)
        if inst.started and not inst.running:
            try:
                await asyncio.to_thread(self.containers.exec.exec_delete, inst.container_id, inst.id)
            except BerthError as exc:
                log.get().warning("exec.forget", exec_id=inst.id[:12], error=exc.message)

    def _watch(self, inst: ExecInstance) -> None:
        loop = asyncio.get_running_loop()

        def wait() -> None:
            try:
                code = self.containers.exec.exec_wait(inst.container_id, inst.id, None)
            except Exception as exc:
                log.get().warning("exec.wait", exec_id=inst.id[:12], error=str(exc))
                code = 126
            loop.call_soon_threadsafe(self._finished, inst, code)

        threading.Thread(target=wait, name=f"exec-{inst.id[:12]}", daemon=True).start()

    def _finished(self, inst: ExecInstance, code: int | None) -> None:
        inst.running = False
        inst.exit_code = code if code is not None else 126
        inst.done.set()
        c = self.containers.store.containers.get(inst.container_id)
        if c is not None:
            self.containers.event(c, "exec_die", execID=inst.id, exitCode=str(inst.exit_code))

    def detached(self, inst: ExecInstance) -> None:
        """The client typed the detach keys: the process goes on (dockerd's ``exec_detach`` event)."""
        c = self.containers.store.containers.get(inst.container_id)
        if c is not None:
            self.containers.event(c, "exec_detach", execID=inst.id)

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        inst = self.get(exec_id)
        if not inst.running:
            raise Conflict(f"exec {exec_id} is not running")
        await asyncio.to_thread(self.containers.exec.resize, inst.container_id, height, width, inst.id)

    def inspect(self, exec_id: str) -> dict[str, Any]:
        """``GET /exec/{id}/json`` in dockerd's shape: ``ExitCode`` null until the process ended,
        ``DetachKeys`` the parsed sequence in base64 (a Go ``[]byte``), ``user`` only when set."""
        inst = self.get(exec_id)
        cmd = inst.config.get("Cmd") or [""]
        process = {"tty": bool(inst.config.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                   "privileged": bool(inst.config.get("Privileged"))}
        if inst.config.get("User"):
            process["user"] = inst.config["User"]
        keys = detachkeys.parse(inst.config["DetachKeys"]) if inst.config.get("DetachKeys") else b""
        return {
            "ID": inst.id, "Running": inst.running, "ExitCode": inst.exit_code, "ProcessConfig": process,
            "OpenStdin": bool(inst.config.get("AttachStdin")), "OpenStderr": bool(inst.config.get("AttachStderr")),
            "OpenStdout": bool(inst.config.get("AttachStdout")), "CanRemove": False,
            "ContainerID": inst.container_id, "DetachKeys": base64.b64encode(keys).decode(), "Pid": inst.pid,
        }

    def forget_container(self, container_id: str) -> None:
        for exec_id in [i for i, inst in self.instances.items() if inst.container_id == container_id]:
            del self.instances[exec_id]


def _command_text(cmd: list[str]) -> str:
    """How dockerd names an exec's command in its events: the entrypoint, a space, the arguments
    (so a command without arguments keeps a trailing space)."""
    return f"{cmd[0]} {' '.join(cmd[1:])}"
