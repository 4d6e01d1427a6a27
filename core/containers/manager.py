"""Container lifecycle: create, start, wait, kill, stop, remove, and re-adoption at start-up.

The manager runs on the daemon's event loop; every driver call is blocking and
runs in a worker thread. Each container has an asyncio lock so two requests
never race on one container. Every state change is persisted before it is
reported.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import secrets
import signal as signals
import threading
from typing import Any

from berth import log
from berth.containers import etcfiles, names, spec as ocispec
from berth.containers.model import Container, State, ZERO_TIME
from berth.containers.store import ContainerStore
from berth.containers.users import resolve_user
from berth.drivers import ExecDriver, GraphDriver
from berth.errors import BerthError, Conflict, ExecError, InvalidArgument, NotImplementedYet
from berth.events import EventBus
from berth.fsutil import atomic_write
from berth.hookspecs.types import IOConfig, RuntimeState, RuntimeStatus
from berth.networks import NetworkManager


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class NotModified(BerthError):
    """Docker answers 304 when starting a running container or stopping a stopped one."""

    status = 304


class ContainerManager:
    def __init__(self, *, store: ContainerStore, images: Any, graph: GraphDriver, execd: ExecDriver,
                 networks: NetworkManager, events: EventBus, exec_root: str, dns: dict[str, list[str]]):
        self.store = store
        self.images = images
        self.graph = graph
        self.exec = execd
        self.networks = networks
        self.events = events
        self.bundles = os.path.join(exec_root, "containers")
        os.makedirs(self.bundles, mode=0o700, exist_ok=True)
        self.dns = dns
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit_waiters: dict[str, list[asyncio.Future]] = {}
        self._removed_waiters: dict[str, list[asyncio.Future]] = {}
        self._attachers: dict[str, list[asyncio.Future]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- helpers ------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.bundles, container_id)

    def attach_socket(self, container_id: str) -> str:
        return os.path.join(self.bundle(container_id), "attach.sock")

    def _event(self, c: Container, action: str, **extra: Any) -> None:
        attrs = {"name": c.name, "image": c.config.get("Image", ""), **c.labels, **extra}
        self.events.publish("container", action, c.id, attrs)

    # -- create -------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None) -> Container:
        if not isinstance(body, dict) or not body.get("Image"):
            raise InvalidArgument("config is missing the Image field")
        image = self.images.get(body["Image"])
        host_config = dict(body.get("HostConfig") or {})
        name = names.validate(name) if name else names.generate(self.store.names())
        for other in self.store.containers.values():
            if other.name == name:
                raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
        network = self._network_for(host_config)
        image_cfg = (image.config or {}).get("config") or {}
        config = self._merged_config(body, image_cfg)
        argv = ocispec.command(config, image_cfg)  # fails now, as Docker does, when there is no command
        cid = secrets.token_hex(32)
        c = Container(
            id=cid, name=name, created=now_rfc3339(), image_id=image.id, config=config, host_config=host_config,
            path=argv[0], args=argv[1:], graph_driver=self.graph.name, exec_driver=self.exec.name,
            layer_id=cid, hostname=config.get("Hostname") or cid[:12], network=network.name,
            labels=dict(config.get("Labels") or {}),
        )
        c.config["Hostname"] = c.hostname
        with log.job("container.create", container_id=cid[:12], image_id=image.id[7:19], driver=self.graph.name):
            await asyncio.to_thread(self.graph.create_rw, cid, image.layer_id, {})
            try:
                self.store.save(c)
            except BaseException:
                await asyncio.to_thread(self.graph.remove, cid)
                raise
        self._event(c, "create")
        return c

    def _network_for(self, host_config: dict[str, Any]):
        mode = host_config.get("NetworkMode") or "default"
        if mode.startswith("container:"):
            raise NotImplementedYet("--network container:<name> is not supported yet")
        if mode == "default":
            mode = self.networks.default_network()
        host_config["NetworkMode"] = mode
        return self.networks.find(mode)

    @staticmethod
    def _merged_config(body: dict[str, Any], image_cfg: dict[str, Any]) -> dict[str, Any]:
        """Docker fills the container's Config from the image at create time; inspect shows the result."""
        keys = ("Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr", "Tty",
                "OpenStdin", "StdinOnce", "Env", "Cmd", "Image", "Volumes", "WorkingDir", "Entrypoint",
                "Labels", "StopSignal", "StopTimeout", "ExposedPorts")
        config = {k: body.get(k) for k in keys}
        env = {}
        for item in [*(image_cfg.get("Env") or []), *(body.get("Env") or [])]:
            key, _, _ = item.partition("=")
            env[key] = item
        config["Env"] = list(env.values())
        if body.get("Entrypoint") is None:
            config["Entrypoint"] = image_cfg.get("Entrypoint")
            if not body.get("Cmd"):
                config["Cmd"] = image_cfg.get("Cmd")
        config["Cmd"] = config["Cmd"] or None
        for key in ("WorkingDir", "User", "StopSignal"):
            config[key] = body.get(key) or image_cfg.get(key) or ""
        config["Labels"] = {**(image_cfg.get("Labels") or {}), **(body.get("Labels") or {})}
        config["ExposedPorts"] = {**(image_cfg.get("ExposedPorts") or {}), **(body.get("ExposedPorts") or {})}
        config["Volumes"] = {**(image_cfg.get("Volumes") or {}), **(body.get("Volumes") or {})} or None
        for key in ("Tty", "OpenStdin", "StdinOnce", "AttachStdin", "AttachStdout", "AttachStderr"):
            config[key] = bool(config[key])
        return config

    # -- start --------------------------------------------------------------

    async def start(self, ref: str) -> Container:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status in (State.RUNNING, State.PAUSED, State.RESTARTING):
                raise NotModified("container already started")
            if c.state.status not in (State.CREATED, State.EXITED):
                raise Conflict(f"cannot start container {c.short_id}: it is {c.state.status.value}")
            with log.job("container.start", container_id=c.short_id, driver=self.exec.name) as ev:
                await self._start_locked(c)
                ev["pid"] = c.state.pid
        self._event(c, "start")
        return c

    async def _start_locked(self, c: Container) -> None:
        image = self.images.get(c.image_id)
        image_cfg = (image.config or {}).get("config") or {}
        network = self.networks.find(c.network)
        bundle = self.bundle(c.id)
        os.makedirs(bundle, mode=0o700, exist_ok=True)
        rootfs = await asyncio.to_thread(self.graph.mount, c.layer_id)
        created = False
        try:
            c.rootfs = rootfs
            user = resolve_user(rootfs, c.config.get("User") or "")
            sandbox = await asyncio.to_thread(self.networks.sandbox, network, c.id)
            etc = etcfiles.write_etc_files(
                self.store.directory(c.id), c.hostname,
                etcfiles.hosts_content(c.hostname, "", c.host_config.get("ExtraHosts")),
                etcfiles.resolv_conf_content(c.host_config.get("Dns") or self.dns.get("dns", []),
                                             c.host_config.get("DnsSearch") or self.dns.get("dns_search", []),
                                             c.host_config.get("DnsOptions") or self.dns.get("dns_opts", [])))
            spec = ocispec.build_spec(container_id=c.id, config=c.config, host_config=c.host_config,
                                      image_config=image_cfg, rootfs=rootfs, hostname=c.hostname, user=user,
                                      sandbox=sandbox, etc_files=etc)
            import json

            atomic_write(os.path.join(bundle, "config.json"), json.dumps(spec, indent=1).encode(), 0o600)
            io = IOConfig(log_path=self.store.log_path(c.id), attach_socket=self.attach_socket(c.id),
                          tty=bool(c.config.get("Tty")), open_stdin=bool(c.config.get("OpenStdin")))
            state = await asyncio.to_thread(self.exec.create, c.id, bundle, spec, io)
            created = True
            await self._release_attachers(c.id)
            netns = None if sandbox.share_host else (sandbox.netns_path or f"/proc/{state.pid}/ns/net")
            endpoint = await asyncio.to_thread(self.networks.join, network, c.id, netns,
                                               {"container_name": c.name, "hostname": c.hostname})
            c.endpoint = {"network": network.name, "network_id": network.id, "interface": endpoint.interface,
                          "ipv4_address": endpoint.ipv4_address, "gateway": endpoint.gateway,
                          "mac_address": endpoint.mac_address}
            if endpoint.ipv4_address:
                etcfiles.write_etc_files(self.store.directory(c.id), c.hostname,
                                         etcfiles.hosts_content(c.hostname, endpoint.ipv4_address.split("/")[0],
                                                                c.host_config.get("ExtraHosts")),
                                         open(etc["/etc/resolv.conf"], encoding="utf-8").read())
            try:
                state = await asyncio.to_thread(self.exec.start, c.id)
            except ExecError as exc:
                await self._record_failed_start(c, exc)
                raise
        except BaseException:
            if created and c.state.status != State.EXITED:
                await asyncio.to_thread(self._teardown, c)
            elif not created:
                await asyncio.to_thread(self.graph.unmount, c.layer_id)
            raise
        c.transition(State.RUNNING)
        c.state.pid, c.state.exit_code, c.state.error, c.state.oom_killed = state.pid, 0, "", False
        c.state.started_at = state.started_at or now_rfc3339()
        c.state.finished_at = ZERO_TIME
        self.store.save(c)
        self._watch(c.id)

    async def _record_failed_start(self, c: Container, exc: ExecError) -> None:
        await asyncio.to_thread(self._teardown, c)
        c.transition(State.EXITED)
        c.state.exit_code, c.state.error, c.state.finished_at = exc.exit_code, exc.message, now_rfc3339()
        self.store.save(c)
        self._notify_exit(c)
        if c.host_config.get("AutoRemove"):
            asyncio.get_running_loop().create_task(self._auto_remove(c.id))

    # -- attach -------------------------------------------------------------

    async def attach_target(self, ref: str) -> tuple[str, asyncio.Future | None]:
        """The monitor's attach socket, and a future to resolve once connected (None if already running).

        For a container that is not running yet this waits for its start, which in
        turn waits (briefly) for attachers to connect so no early output is missed.
        """
        c = self.get(ref)
        if c.state.status in (State.RUNNING, State.PAUSED):
            return self.attach_socket(c.id), None
        if c.state.status not in (State.CREATED, State.EXITED):
            raise Conflict(f"cannot attach to container {c.short_id}: it is {c.state.status.value}")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._attachers.setdefault(c.id, []).append(fut)
        return await fut

    async def _release_attachers(self, container_id: str) -> None:
        """Hand waiting attachers the socket and give them a moment to connect before the process runs."""
        waiters = self._attachers.pop(container_id, [])
        if not waiters:
            return
        done = []
        for fut in waiters:
            if not fut.done():
                ack: asyncio.Future = asyncio.get_running_loop().create_future()
                fut.set_result((self.attach_socket(container_id), ack))
                done.append(ack)
        if done:
            await asyncio.wait(done, timeout=5)

    # -- exit handling ------------------------------------------------------

    def _watch(self, container_id: str) -> None:
        loop = asyncio.get_running_loop()

        def wait_for_exit() -> None:
            try:
                state = self.exec.wait(container_id, None)
            except BaseException as exc:  # report rather than lose the container
                state = RuntimeState(container_id, RuntimeStatus.STOPPED, exit_code=255, error=str(exc))
            loop.call_soon_threadsafe(lambda: loop.create_task(self._on_exit(container_id, state)))

        threading.Thread(target=wait_for_exit, name=f"wait-{container_id[:12]}", daemon=True).start()

    async def _on_exit(self, container_id: str, state: RuntimeState) -> None:
        c = self.store.containers.get(container_id)
        if c is None:
            return
        async with self.lock(c.id):
            if c.state.status not in (State.RUNNING, State.PAUSED, State.RESTARTING):
                return
            await asyncio.to_thread(self._teardown, c)
            c.transition(State.EXITED)
            c.state.pid = 0
            c.state.exit_code = state.exit_code if state.exit_code is not None else 255
            c.state.oom_killed = state.oom_killed
            c.state.error = state.error
            c.state.finished_at = state.finished_at or now_rfc3339()
            self.store.save(c)
            log.get().info("container.exit", container_id=c.short_id, exit_code=c.state.exit_code, driver=self.exec.name)
        self._event(c, "die", exitCode=str(c.state.exit_code))
        self._notify_exit(c)
        if c.host_config.get("AutoRemove"):
            await self._auto_remove(c.id)

    def _teardown(self, c: Container) -> None:
        """Release what a run held: network endpoint, runtime state, rootfs mount. Each step is idempotent."""
        errors = []
        network = self.networks.find(c.network, missing_ok=True)
        for step in (lambda: network and self.networks.leave(network, c.id),
                     lambda: self.exec.delete(c.id, True),
                     lambda: self.graph.unmount(c.layer_id)):
            try:
                step()
            except Exception as exc:
                errors.append(str(exc))
        c.endpoint = {}
        c.rootfs = ""
        if errors:
            log.get().warning("container.teardown", container_id=c.short_id, errors=errors)

    def _notify_exit(self, c: Container) -> None:
        for fut in self._exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result((c.state.exit_code, c.state.error))

    async def _auto_remove(self, container_id: str) -> None:
        try:
            await self.remove(container_id, force=True)
        except BerthError as exc:
            log.get().warning("container.autoremove", container_id=container_id[:12], error=exc.message)

    # -- wait / kill / stop -------------------------------------------------

    async def wait(self, ref: str, condition: str = "not-running") -> tuple[int, str]:
        c = self.get(ref)
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}; use not-running, next-exit or removed")
        loop = asyncio.get_running_loop()
        if condition == "removed":
            fut = loop.create_future()
            self._removed_waiters.setdefault(c.id, []).append(fut)
            return await fut
        if condition == "not-running" and not c.state.running:
            return c.state.exit_code, c.state.error
        fut = loop.create_future()
        self._exit_waiters.setdefault(c.id, []).append(fut)
        return await fut

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        c = self.get(ref)
        signum = parse_signal(signal)
        if not c.state.running:
            raise Conflict(f"Cannot kill container: {c.id}: container {c.id} is not running")
        await asyncio.to_thread(self.exec.kill, c.id, signum, False)
        self._event(c, "kill", signal=str(signum))

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        if not c.state.running:
            raise NotModified("container already stopped")
        stop_signal = parse_signal(signal or c.config.get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = c.config.get("StopTimeout") if c.config.get("StopTimeout") is not None else 10
        waiter = asyncio.ensure_future(self.wait(c.id, "next-exit"))
        try:
            await asyncio.to_thread(self.exec.kill, c.id, stop_signal, False)
            done, _ = await asyncio.wait({waiter}, timeout=max(timeout, 0))
            if not done:
                await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, False)
                await asyncio.wait_for(waiter, 30)
        except Conflict:
            pass  # it exited between our check and the signal
        finally:
            if not waiter.done():
                waiter.cancel()
        self._event(c, "stop")

    # -- remove -------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        if c.state.running:
            if not force:
                raise Conflict(f"You cannot remove a running container {c.id}. Stop the container before "
                               "attempting removal or force remove")
            waiter = asyncio.ensure_future(self.wait(c.id, "next-exit"))
            try:
                await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, True)
            except Conflict:
                pass
            await asyncio.wait_for(waiter, 30)
        async with self.lock(c.id):
            if c.id not in self.store.containers:
                return
            if c.state.status != State.REMOVING:
                c.transition(State.REMOVING)
                self.store.save(c)
            with log.job("container.remove", container_id=c.short_id, driver=self.graph.name):
                await asyncio.to_thread(self._teardown, c)
                await asyncio.to_thread(self.graph.remove, c.layer_id)
                self.store.delete(c.id)
                import shutil

                shutil.rmtree(self.bundle(c.id), ignore_errors=True)
        self._locks.pop(c.id, None)
        self._event(c, "destroy")
        for fut in self._removed_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result((c.state.exit_code, c.state.error))

    # -- daemon start-up ----------------------------------------------------

    async def restore(self) -> None:
        """Re-adopt containers a previous daemon left running; record exits that happened meanwhile."""
        self.store.load()
        known = set(await asyncio.to_thread(self.exec.list))
        for c in list(self.store.containers.values()):
            if c.state.status == State.REMOVING:
                c.state.status = State.DEAD
                self.store.save(c)
                continue
            if not c.state.running:
                continue
            try:
                state = await asyncio.to_thread(self.exec.restore, c.id) if c.id in known else None
            except BerthError as exc:
                log.get().warning("container.restore", container_id=c.short_id, error=exc.message)
                state = None
            if state is not None and state.status in (RuntimeStatus.RUNNING, RuntimeStatus.PAUSED):
                c.state.pid = state.pid
                c.rootfs = await asyncio.to_thread(self.graph.mount, c.layer_id)  # take the run's reference again
                self.store.save(c)
                self._watch(c.id)
                continue
            exit_state = state or RuntimeState(c.id, RuntimeStatus.STOPPED, exit_code=255,
                                               error="container's monitor was gone when the daemon restarted")
            if state is not None:
                c.rootfs = await asyncio.to_thread(self.graph.mount, c.layer_id)
            await self._on_exit(c.id, exit_state)


def parse_signal(signal: str | int) -> int:
    """``9``, ``KILL`` or ``SIGKILL`` -> 9; anything else is a 400."""
    text = str(signal).strip().upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < 65:
            return num
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signals, name, None)
        if isinstance(sig, signals.Signals):
            return int(sig)
    raise InvalidArgument(f"Invalid signal: {signal}")
