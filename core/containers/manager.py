"""Container lifecycle: create, start, wait, kill, stop, pause, restart, rename, remove, re-adoption.

The manager runs on the daemon's event loop; every driver call is blocking and
runs in a worker thread. Each container has an asyncio lock so two requests
never race on one container. Every state change is persisted before it is
reported. Starting a container is a sequence of named steps (after crun's
``libcrun_container_run``): mount the rootfs, write /etc files, ask the network
for a sandbox, build the OCI spec, create the runtime (init paused), connect
attachers, join networks, publish ports, start the process.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import secrets
import shutil
import signal as signals
import threading
import time
from typing import Any

from berth import log
from berth.containers import etcfiles, names, ports as portmap, spec as ocispec
from berth.containers.jsonlog import parse_timestamp
from berth.containers.model import Container, State, ZERO_TIME
from berth.containers.restart import RestartPolicy, next_delay
from berth.containers.store import ContainerStore
from berth.containers.users import resolve_user
from berth.drivers import ExecDriver, GraphDriver
from berth.errors import BerthError, Conflict, ExecError, InvalidArgument, NotImplementedYet
from berth.events import EventBus
from berth.fsutil import atomic_write
from berth.hookspecs.types import IOConfig, RuntimeState, RuntimeStatus
from berth.humanize import point_in_time
from berth.images.initlayer import init_layer_id
from berth.networks import NetworkManager


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


class NotModified(BerthError):
    """Docker answers 304 when starting a running container or stopping a stopped one."""

    status = 304


class ContainerManager:
    def __init__(self, *, store: ContainerStore, images: Any, graph: GraphDriver, execd: ExecDriver,
                 networks: NetworkManager, events: EventBus, exec_root: str, dns: dict[str, list[str]],
                 volumes: Any = None):
        self.store = store
        self.images = images
        self.graph = graph
        self.exec = execd
        self.networks = networks
        self.events = events
        self.volumes = volumes
        self.bundles = os.path.join(exec_root, "containers")
        os.makedirs(self.bundles, mode=0o700, exist_ok=True)
        self.dns = dns
        self._locks: dict[str, asyncio.Lock] = {}
        self._exit_waiters: dict[str, list[asyncio.Future]] = {}
        self._removed_waiters: dict[str, list[asyncio.Future]] = {}
        self._attachers: dict[str, list[asyncio.Future]] = {}
        self._restart_delay: dict[str, float] = {}
        self._restart_tasks: dict[str, asyncio.Task] = {}

    # -- helpers ------------------------------------------------------------

    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    def lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def bundle(self, container_id: str) -> str:
        return os.path.join(self.bundles, container_id)

    def attach_socket(self, container_id: str) -> str:
        return os.path.join(self.bundle(container_id), "attach.sock")

    def event(self, c: Container, action: str, **extra: Any) -> None:
        attrs = {"name": c.name, "image": c.config.get("Image", ""), **c.labels, **extra}
        self.events.publish("container", action, c.id, attrs)

    def image_config(self, c: Container) -> dict[str, Any]:
        return (self.images.get(c.image_id).config or {}).get("config") or {}

    # -- create -------------------------------------------------------------

    async def create(self, body: dict[str, Any], name: str | None) -> Container:
        if not isinstance(body, dict) or not body.get("Image"):
            raise InvalidArgument("config is missing the Image field")
        image = self.images.get(body["Image"])
        host_config = dict(body.get("HostConfig") or {})
        RestartPolicy.from_host_config(host_config)  # validate now: Docker refuses bad policies at create
        name = names.validate(name) if name else names.generate(self.store.names())
        for other in self.store.containers.values():
            if other.name == name:
                raise Conflict(f'Conflict. The container name "/{name}" is already in use by container "{other.id}". '
                               "You have to remove (or rename) that container to be able to reuse that name.")
        network = self._network_for(host_config)
        image_cfg = (image.config or {}).get("config") or {}
        config = self._merged_config(body, image_cfg)
        argv = ocispec.command(config, image_cfg)  # fails now, as Docker does, when there is no command
        portmap.requested(host_config, config.get("ExposedPorts") or {})  # validate -p now
        cid = secrets.token_hex(32)
        endpoint_cfg = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).get(network.name) or {}
        if endpoint_cfg.get("Aliases") and network.name == "bridge":
            raise InvalidArgument("network-scoped alias is supported only for containers in user defined networks")
        c = Container(
            id=cid, name=name, created=now_rfc3339(), image_id=image.id, config=config, host_config=host_config,
            path=argv[0], args=argv[1:], graph_driver=self.graph.name, exec_driver=self.exec.name,
            layer_id=cid, hostname=config.get("Hostname") or cid[:12], network=network.name,
            endpoints={network.name: self._endpoint_record(network, endpoint_cfg)},
            labels=dict(config.get("Labels") or {}),
        )
        c.config["Hostname"] = c.hostname
        with log.job("container.create", container_id=cid[:12], image_id=image.id[7:19], driver=self.graph.name):
            await asyncio.to_thread(self.images.create_container_layers, cid, image)
            try:
                if self.volumes is not None:
                    await asyncio.to_thread(self.volumes.prepare, c, image_cfg)
                self.store.save(c)
            except BaseException:
                await asyncio.to_thread(self.images.remove_container_layers, cid)
                raise
        self.event(c, "create")
        return c

    @staticmethod
    def _endpoint_record(network, endpoint_cfg: dict[str, Any]) -> dict[str, Any]:
        ipam = endpoint_cfg.get("IPAMConfig") or {}
        return {"network_id": network.id, "aliases": list(endpoint_cfg.get("Aliases") or []),
                "ip": ipam.get("IPv4Address") or ""}

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
            env[item.partition("=")[0]] = item
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
            if c.state.status in (State.RUNNING, State.PAUSED):
                raise NotModified("container already started")
            if c.state.status not in (State.CREATED, State.EXITED, State.RESTARTING):
                raise Conflict(f"cannot start container {c.short_id}: it is {c.state.status.value}")
            self._cancel_restart(c.id)
            c.manually_stopped = False
            with log.job("container.start", container_id=c.short_id, driver=self.exec.name) as ev:
                await self._start_locked(c)
                ev["pid"] = c.state.pid
        self.event(c, "start")
        return c

    async def _start_locked(self, c: Container) -> None:
        image_cfg = self.image_config(c)
        network = self.networks.find(c.network)
        bundle = self.bundle(c.id)
        os.makedirs(bundle, mode=0o700, exist_ok=True)
        c.rootfs = await asyncio.to_thread(self.graph.mount, c.layer_id)
        created = False
        try:
            user = resolve_user(c.rootfs, c.config.get("User") or "")
            sandbox = await asyncio.to_thread(self.networks.sandbox, network, c.id)
            etc = self._write_etc_files(c, address="", embedded_dns=False)
            spec = ocispec.build_spec(container_id=c.id, config=c.config, host_config=c.host_config,
                                      image_config=image_cfg, rootfs=c.rootfs, hostname=c.hostname, user=user,
                                      sandbox=sandbox, etc_files=etc,
                                      extra_mounts=self.volumes.mounts(c) if self.volumes is not None else [])
            # compact JSON: the C encoder (indent= falls back to the pure-Python one, ~4x slower)
            atomic_write(os.path.join(bundle, "config.json"), json.dumps(spec).encode(), 0o600)
            io = IOConfig(log_path=self.store.log_path(c.id), attach_socket=self.attach_socket(c.id),
                          tty=bool(c.config.get("Tty")), open_stdin=bool(c.config.get("OpenStdin")))
            try:
                state = await asyncio.to_thread(self.exec.create, c.id, bundle, spec, io)
            except ExecError as exc:  # runtimes like runc check the command at create time
                c.rootfs = ""
                await asyncio.to_thread(self.graph.unmount, c.layer_id)
                await self._record_failed_start(c, exc, created=False)
                raise
            created = True
            await self._release_attachers(c.id)
            netns = None if sandbox.share_host else (sandbox.netns_path or f"/proc/{state.pid}/ns/net")
            c.state.pid = state.pid
            await asyncio.to_thread(self._join_networks, c, netns)
            try:
                state = await asyncio.to_thread(self.exec.start, c.id)
            except ExecError as exc:
                await self._record_failed_start(c, exc)
                raise
        except BaseException:
            if created and c.state.status != State.EXITED:
                await asyncio.to_thread(self._teardown, c)
            elif not created and c.rootfs:
                c.rootfs = ""
                await asyncio.to_thread(self.graph.unmount, c.layer_id)
            raise
        c.transition(State.RUNNING)
        c.state.pid, c.state.exit_code, c.state.error, c.state.oom_killed = state.pid, 0, "", False
        c.state.started_at = state.started_at or now_rfc3339()
        c.state.finished_at = ZERO_TIME
        self.store.save(c)
        self._watch(c.id)

    def _write_etc_files(self, c: Container, address: str, embedded_dns: bool, in_place: bool = False) -> dict[str, str]:
        hc = c.host_config
        if embedded_dns:
            # Docker's embedded resolver: the real servers are its upstreams, not the container's
            resolv = etcfiles.embedded_resolv_conf(hc.get("DnsSearch") or self.dns.get("dns_search", []),
                                                   hc.get("DnsOptions") or self.dns.get("dns_opts", []))
        else:
            resolv = etcfiles.resolv_conf_content(hc.get("Dns") or self.dns.get("dns", []),
                                                  hc.get("DnsSearch") or self.dns.get("dns_search", []),
                                                  hc.get("DnsOptions") or self.dns.get("dns_opts", []))
        return etcfiles.write_etc_files(self.store.directory(c.id), c.hostname,
                                        etcfiles.hosts_content(c.hostname, address, hc.get("ExtraHosts")), resolv,
                                        in_place)

    def _join_networks(self, c: Container, netns: str | None) -> None:
        """Attach every network of the container, then publish its ports on the primary one (worker thread)."""
        address, embedded_dns = "", False
        for net_name, record in c.endpoints.items():
            network = self.networks.find(net_name)
            info = self.networks.join(network, c.id, netns, self._join_options(c, record))
            record.update(network_id=network.id, interface=info.interface, ipv4_address=info.ipv4_address,
                          gateway=info.gateway, mac_address=info.mac_address, dns=info.extra.get("dns", ""),
                          netns=netns or "")
            if net_name == c.network:
                address = info.ipv4_address.split("/")[0]
            embedded_dns = embedded_dns or bool(info.extra.get("dns"))
        if address or embedded_dns:
            self._write_etc_files(c, address, embedded_dns, in_place=True)
        self._publish_ports(c)

    @staticmethod
    def _join_options(c: Container, record: dict[str, Any]) -> dict[str, Any]:
        """What a network driver may use: names for its resolver, a requested address, upstream DNS."""
        return {"container_name": c.name, "hostname": c.hostname, "aliases": record.get("aliases") or [],
                "dns": c.host_config.get("Dns") or [], **({"ip": record["ip"]} if record.get("ip") else {})}

    def _publish_ports(self, c: Container) -> None:
        wanted = portmap.requested(c.host_config, c.config.get("ExposedPorts") or {})
        if not wanted or c.host_config.get("NetworkMode") in ("host", "none"):
            return  # Docker ignores published ports with --network host/none
        network = self.networks.find(c.network)
        driver = self.networks.driver(network.driver)
        address = (c.endpoints[c.network].get("ipv4_address") or "").split("/")[0]
        c.ports = []
        for binding in wanted:
            from dataclasses import replace

            done = driver.publish_port(network.id, c.id, replace(binding, container_ip=address))
            c.ports.append(portmap.to_record(done))

    async def _record_failed_start(self, c: Container, exc: ExecError, created: bool = True) -> None:
        if created:
            await asyncio.to_thread(self._teardown, c)
        c.transition(State.EXITED)
        c.state.exit_code, c.state.error, c.state.finished_at = exc.exit_code, exc.message, now_rfc3339()
        c.state.pid = 0
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
        if c.state.status not in (State.CREATED, State.EXITED, State.RESTARTING):
            raise Conflict(f"cannot attach to container {c.short_id}: it is {c.state.status.value}")
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self._attachers.setdefault(c.id, []).append(fut)
        return await fut

    async def _release_attachers(self, container_id: str) -> None:
        """Hand waiting attachers the socket and give them a moment to connect before the process runs."""
        acks = []
        for fut in self._attachers.pop(container_id, []):
            if not fut.done():
                ack: asyncio.Future = asyncio.get_running_loop().create_future()
                fut.set_result((self.attach_socket(container_id), ack))
                acks.append(ack)
        if acks:
            await asyncio.wait(acks, timeout=5)

    # -- exit handling and restart policies --------------------------------

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
            c.state.pid = 0
            c.state.exit_code = state.exit_code if state.exit_code is not None else 255
            c.state.oom_killed = state.oom_killed
            c.state.error = state.error
            c.state.finished_at = state.finished_at or now_rfc3339()
            policy = RestartPolicy.from_host_config(c.host_config)
            restart = policy.should_restart(c.state.exit_code, c.restart_count, c.manually_stopped)
            c.transition(State.RESTARTING if restart else State.EXITED)
            self.store.save(c)
            log.get().info("container.exit", container_id=c.short_id, exit_code=c.state.exit_code,
                           oom_killed=c.state.oom_killed, driver=self.exec.name, restart=restart)
        if c.state.oom_killed:
            self.event(c, "oom")
        self.event(c, "die", exitCode=str(c.state.exit_code))
        self._notify_exit(c)
        if restart:
            ran_for = time.time() - _parse_time(c.state.started_at)
            delay = next_delay(self._restart_delay.get(c.id, 0.0), ran_for)
            self._restart_delay[c.id] = delay
            self._restart_tasks[c.id] = asyncio.get_running_loop().create_task(self._restart_later(c.id, delay))
        elif c.host_config.get("AutoRemove"):
            await self._auto_remove(c.id)

    async def _restart_later(self, container_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        c = self.store.containers.get(container_id)
        if c is None or c.state.status != State.RESTARTING:
            return
        try:
            async with self.lock(c.id):
                if c.state.status != State.RESTARTING:
                    return
                c.restart_count += 1
                await self._start_locked(c)
            self.event(c, "restart")
        except BerthError as exc:
            log.get().warning("container.restart_failed", container_id=c.short_id, error=exc.message)
            if c.state.status == State.RESTARTING:
                c.transition(State.EXITED)
                self.store.save(c)
        finally:
            self._restart_tasks.pop(container_id, None)

    def _cancel_restart(self, container_id: str) -> None:
        task = self._restart_tasks.pop(container_id, None)
        if task:
            task.cancel()

    def _teardown(self, c: Container) -> None:
        """Release what a run held: ports, network endpoints, runtime state, rootfs mount. Each step is idempotent."""
        errors = []
        steps = []
        primary = self.networks.find(c.network, missing_ok=True)
        for record in c.ports:
            steps.append(lambda r=record: primary and self.networks.driver(primary.driver).unpublish_port(
                primary.id, c.id, portmap.from_record(r)))
        for net_name in c.endpoints:
            steps.append(lambda n=net_name: self._leave(n, c.id))
        steps.append(lambda: self.exec.delete(c.id, True))
        if c.rootfs:
            steps.append(lambda: self.graph.unmount(c.layer_id))
        for step in steps:
            try:
                step()
            except Exception as exc:
                errors.append(str(exc))
        c.ports = []
        for record in c.endpoints.values():
            for key in ("interface", "ipv4_address", "gateway", "mac_address", "dns", "netns"):
                record.pop(key, None)
        c.rootfs = ""
        if errors:
            log.get().warning("container.teardown", container_id=c.short_id, errors=errors)

    def _leave(self, net_name: str, container_id: str) -> None:
        network = self.networks.find(net_name, missing_ok=True)
        if network:
            self.networks.leave(network, container_id)

    def _notify_exit(self, c: Container) -> None:
        for fut in self._exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result((c.state.exit_code, c.state.error))

    async def _auto_remove(self, container_id: str) -> None:
        try:
            await self.remove(container_id, force=True)
        except BerthError as exc:
            log.get().warning("container.autoremove", container_id=container_id[:12], error=exc.message)

    # -- wait / kill / stop / pause / restart ------------------------------

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

    def _require_running(self, c: Container, verb: str) -> None:
        if c.state.status == State.PAUSED and verb != "kill":
            raise Conflict(f"Container {c.id} is paused, unpause the container before {verb}")
        if c.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"Container {c.id} is not running")

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        c = self.get(ref)
        signum = parse_signal(signal)
        if not c.state.running:
            raise Conflict(f"Cannot kill container: {c.id}: container {c.id} is not running")
        if c.state.status == State.RESTARTING:
            self._cancel_restart(c.id)
            c.transition(State.EXITED)
            self.store.save(c)
            return
        c.manually_stopped = True
        await asyncio.to_thread(self.exec.kill, c.id, signum, False)
        self.event(c, "kill", signal=str(signum))

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        if c.state.status == State.RESTARTING:
            self._cancel_restart(c.id)
            c.manually_stopped = True
            c.transition(State.EXITED)
            self.store.save(c)
            return
        if not c.state.running:
            raise NotModified("container already stopped")
        c.manually_stopped = True
        self.store.save(c)
        stop_signal = parse_signal(signal or c.config.get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = c.config.get("StopTimeout") if c.config.get("StopTimeout") is not None else 10
        waiter = asyncio.ensure_future(self.wait(c.id, "next-exit"))
        try:
            if c.state.status == State.PAUSED:
                await asyncio.to_thread(self.exec.resume, c.id)  # a frozen process cannot handle its signal
                c.transition(State.RUNNING)
            await asyncio.to_thread(self.exec.kill, c.id, stop_signal, False)
            done, _ = await asyncio.wait({waiter}, timeout=max(timeout, 0) if timeout >= 0 else None)
            if not done:
                await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, True)
                await asyncio.wait_for(waiter, 30)
        except Conflict:
            pass  # it exited between our check and the signal
        finally:
            if not waiter.done():
                waiter.cancel()
        self.event(c, "stop")

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        c = self.get(ref)
        if c.state.running:
            await self.stop(c.id, timeout)
        await self.start(c.id)
        self.event(c, "restart")

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status == State.PAUSED:
                raise Conflict(f"Container {c.id} is already paused")
            self._require_running(c, "pause")
            await asyncio.to_thread(self.exec.pause, c.id)
            c.transition(State.PAUSED)
            self.store.save(c)
        self.event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status != State.PAUSED:
                raise Conflict(f"Container {c.id} is not paused")
            await asyncio.to_thread(self.exec.resume, c.id)
            c.transition(State.RUNNING)
            self.store.save(c)
        self.event(c, "unpause")

    async def rename(self, ref: str, new_name: str) -> None:
        c = self.get(ref)
        new_name = names.validate(new_name)
        if new_name == c.name:
            raise Conflict("Renaming a container with the same name as its current name")
        for other in self.store.containers.values():
            if other.name == new_name:
                raise Conflict(f'Conflict. The container name "/{new_name}" is already in use by container '
                               f'"{other.id}". You have to remove (or rename) that container to be able to reuse that name.')
        old = c.name
        c.name = new_name
        self.store.save(c)
        self.event(c, "rename", oldName="/" + old)

    async def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        self._require_running(c, "resize")
        await asyncio.to_thread(self.exec.resize, c.id, height, width)

    async def top(self, ref: str) -> list[int]:
        c = self.get(ref)
        self._require_running(c, "top")
        return await asyncio.to_thread(self.exec.top, c.id)

    async def stats(self, ref: str) -> dict[str, Any]:
        c = self.get(ref)
        if c.state.status not in (State.RUNNING, State.PAUSED):
            return {}
        return await asyncio.to_thread(self.exec.stats, c.id)

    async def update(self, ref: str, resources: dict[str, Any]) -> None:
        """Docker's ``update``: new resource limits and/or restart policy, applied live when running."""
        c = self.get(ref)
        fields = ("Memory", "MemorySwap", "CpuShares", "NanoCpus", "CpuQuota", "CpuPeriod", "CpusetCpus",
                  "CpusetMems", "PidsLimit", "BlkioWeight")
        changes = {k: resources[k] for k in fields if resources.get(k) is not None}
        merged = {**c.host_config, **changes}
        if resources.get("RestartPolicy"):
            merged["RestartPolicy"] = resources["RestartPolicy"]
            RestartPolicy.from_host_config(merged)
        if changes and c.state.status in (State.RUNNING, State.PAUSED):
            # the kernel may refuse (a limit below current use): then nothing is recorded either
            await asyncio.to_thread(self.exec.update, c.id, ocispec.resources(merged))
        c.host_config = merged
        self.store.save(c)
        self.event(c, "update")

    # -- networks of a container -------------------------------------------

    async def connect(self, ref: str, network_ref: str, endpoint_cfg: dict[str, Any]) -> None:
        c = self.get(ref)
        network = self.networks.find(network_ref)
        if network.name in c.endpoints:
            raise Conflict(f"endpoint with name {c.name} already exists in network {network.name}")
        if c.network in ("host", "none") or network.driver in ("host", "none"):
            raise Conflict("container cannot be disconnected from host/none networks nor connected to them")
        async with self.lock(c.id):
            record = self._endpoint_record(network, endpoint_cfg or {})
            if c.state.status in (State.RUNNING, State.PAUSED):
                netns = next((r.get("netns") for r in c.endpoints.values() if r.get("netns")), None)
                info = await asyncio.to_thread(self.networks.join, network, c.id, netns,
                                               self._join_options(c, record))
                record.update(interface=info.interface, ipv4_address=info.ipv4_address, gateway=info.gateway,
                              mac_address=info.mac_address, dns=info.extra.get("dns", ""), netns=netns or "")
            c.endpoints[network.name] = record
            self.store.save(c)
        self.events.publish("network", "connect", network.id, {"container": c.id, "name": network.name})

    async def disconnect(self, ref: str, network_ref: str, force: bool = False) -> None:
        c = self.get(ref)
        network = self.networks.find(network_ref)
        if network.name not in c.endpoints:
            raise Conflict(f"container {c.id} is not connected to network {network.name}")
        if len(c.endpoints) == 1 and not force and c.state.running:
            raise Conflict(f"container {c.short_id} would be left without a network; use --force")
        async with self.lock(c.id):
            if c.state.status in (State.RUNNING, State.PAUSED):
                await asyncio.to_thread(self.networks.leave, network, c.id)
            del c.endpoints[network.name]
            if c.network == network.name:
                c.network = next(iter(c.endpoints), "none") if c.endpoints else "none"
                if not c.endpoints:
                    none = self.networks.find("none")
                    c.endpoints["none"] = self._endpoint_record(none, {})
            self.store.save(c)
        self.events.publish("network", "disconnect", network.id, {"container": c.id, "name": network.name})

    # -- remove -------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        while True:
            await self._stop_for_remove(c, force)
            async with self.lock(c.id):
                if c.id not in self.store.containers:
                    return
                if c.state.running or c.state.status == State.RESTARTING:
                    # a start that held the lock finished first (rm -f racing start): kill it too
                    continue
                await self._remove_locked(c, volumes)
                break
        self._locks.pop(c.id, None)
        self._restart_delay.pop(c.id, None)
        self.event(c, "destroy")
        for fut in self._removed_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result((c.state.exit_code, c.state.error))

    async def _stop_for_remove(self, c: Container, force: bool) -> None:
        """Without ``force`` a running container is a 409; with it, SIGKILL and wait for the exit."""
        if c.state.status == State.RESTARTING:
            self._cancel_restart(c.id)
            c.transition(State.EXITED)
        if c.state.running:
            if not force:
                raise Conflict(f"You cannot remove a running container {c.id}. Stop the container before "
                               "attempting removal or force remove")
            c.manually_stopped = True
            waiter = asyncio.ensure_future(self.wait(c.id, "next-exit"))
            try:
                await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, True)
            except Conflict:
                pass
            await asyncio.wait_for(waiter, 30)

    async def _remove_locked(self, c: Container, volumes: bool) -> None:
        """Tear down and delete a stopped container (the caller holds its lock)."""
        if c.state.status != State.REMOVING:
            c.transition(State.REMOVING)
            self.store.save(c)
        with log.job("container.remove", container_id=c.short_id, driver=self.graph.name):
            await asyncio.to_thread(self._teardown, c)
            await asyncio.to_thread(self.images.remove_container_layers, c.layer_id)
            if self.volumes is not None:
                await asyncio.to_thread(self.volumes.release, c, volumes)
            self.store.delete(c.id)
            shutil.rmtree(self.bundle(c.id), ignore_errors=True)

    async def prune(self, filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
        """Remove stopped containers (Docker's filters: ``until``, ``label``, ``label!``); report the bytes freed."""
        filters = filters or {}
        until = min((_until_seconds(v) for v in filters.get("until", [])), default=None)
        removed, reclaimed = [], 0
        for c in list(self.store.containers.values()):
            if c.state.status not in (State.EXITED, State.CREATED, State.DEAD):
                continue
            if until is not None and _parse_time(c.created) >= until:
                continue
            if not _labels_match(c.labels, filters.get("label", []), filters.get("label!", [])):
                continue
            try:  # the container's own changes: its layer against the init layer beneath it
                size = await asyncio.to_thread(self.graph.diff_size, c.layer_id, init_layer_id(c.layer_id))
            except BerthError:
                size = 0
            await self.remove(c.id)
            removed.append(c.id)
            reclaimed += size
        return removed, reclaimed

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
            if c.state.status == State.RESTARTING:
                c.state.status = State.EXITED
            if not c.state.running:
                if RestartPolicy.from_host_config(c.host_config).restart_at_daemon_start(c.manually_stopped) \
                        and c.state.status == State.EXITED:
                    await self._restart_on_boot(c)
                continue
            try:
                state = await asyncio.to_thread(self.exec.restore, c.id) if c.id in known else None
            except BerthError as exc:
                log.get().warning("container.restore", container_id=c.short_id, error=exc.message)
                state = None
            if state is not None and state.status in (RuntimeStatus.RUNNING, RuntimeStatus.PAUSED):
                c.state.pid = state.pid
                c.rootfs = await asyncio.to_thread(self.graph.mount, c.layer_id)  # take the run's reference again
                if c.ports:
                    await asyncio.to_thread(self._republish, c)
                self.store.save(c)
                self._watch(c.id)
                log.get().info("container.readopted", container_id=c.short_id, pid=c.state.pid)
                continue
            exit_state = state or RuntimeState(c.id, RuntimeStatus.STOPPED, exit_code=255,
                                               error="container's monitor was gone when the daemon restarted")
            c.rootfs = await asyncio.to_thread(self.graph.mount, c.layer_id)  # balanced by the teardown
            await self._on_exit(c.id, exit_state)

    def _republish(self, c: Container) -> None:
        """The daemon's userland proxy died with the old daemon: open the listeners again."""
        network = self.networks.find(c.network, missing_ok=True)
        if network is None:
            return
        driver = self.networks.driver(network.driver)
        for record in c.ports:
            binding = portmap.from_record(record)
            try:
                driver.unpublish_port(network.id, c.id, binding)
                driver.publish_port(network.id, c.id, binding)
            except BerthError as exc:
                log.get().warning("container.republish", container_id=c.short_id, error=exc.message)

    async def _restart_on_boot(self, c: Container) -> None:
        try:
            await self.start(c.id)
        except BerthError as exc:
            log.get().warning("container.boot_restart", container_id=c.short_id, error=exc.message)


def _parse_time(text: str) -> float:
    return 0.0 if not text or text.startswith("0001-") else parse_timestamp(text)


def _until_seconds(value: str) -> float:
    """Docker's ``until`` filter (unix seconds, RFC 3339 or a duration ago); a bad value is a 400."""
    try:
        return point_in_time(value)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter 'until={value}': {exc}") from None


def _labels_match(labels: dict[str, str], wanted: list[str], unwanted: list[str]) -> bool:
    def has(spec: str) -> bool:
        key, sep, value = spec.partition("=")
        return key in labels and (not sep or labels[key] == value)

    return all(has(w) for w in wanted) and not any(has(u) for u in unwanted)


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


