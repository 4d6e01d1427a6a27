"""Start: the named steps from a mounted rootfs to a running process, and their undoing.

After crun's ``libcrun_container_run``: mount the rootfs, write /etc files, ask the network
for a sandbox, build the OCI spec, create the runtime (init paused), connect attachers, join
networks, publish ports, start the process. ``_teardown`` releases what a run held.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os

from berth import crashpoints, log
from berth.completion import runs_to_completion
from berth.containers import legacylinks, logdrivers, propagation, spec as ocispec
from berth.containers.model import Container, State, ZERO_TIME, now_rfc3339
from berth.containers.restore import STARTING_MARKER
from berth.containers.users import resolve_user
from berth.errors import BerthError, Conflict, ExecError, NotFound, NotModified
from berth.fsutil import atomic_write
from berth.hookspecs.types import IOConfig


class StartMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    @runs_to_completion
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
                try:
                    await self._start_locked(c, log.Laps(ev))
                except ExecError:
                    raise  # recorded as the exit of a process that could not run
                except BerthError as exc:
                    self._record_start_error(c, exc)
                    raise
                ev["pid"] = c.state.pid
        self.event(c, "start")
        return c

    async def _start_locked(self, c: Container, laps: log.Laps | None = None) -> None:
        laps = laps or log.Laps()
        log_io = self._log_settings(c)
        image_cfg = self.image_config(c)
        plan, sandbox = await self._prepare_networking(c)
        laps.mark("prepare")
        bundle = self.bundle(c.id)
        os.makedirs(bundle, mode=0o700, exist_ok=True)
        # Until the running state is saved, a crash must be undone at restart (see restore.py).
        marker = os.path.join(bundle, STARTING_MARKER)
        with open(marker, "wb"):
            pass
        try:
            await self._start_steps(c, bundle, log_io, image_cfg, plan, sandbox, laps)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)

    async def _start_steps(self, c: Container, bundle: str, log_io: dict, image_cfg: dict, plan, sandbox,
                           laps: log.Laps) -> None:
        c.rootfs = await asyncio.to_thread(self.mount_rootfs, c)
        laps.mark("mount")
        crashpoints.reached("start.after_mount")
        created = False
        try:
            spec = self._spec(c, image_cfg, sandbox)
            # compact JSON: the C encoder (indent= falls back to the pure-Python one, ~4x slower);
            # no fsync: the spec is written afresh at every start
            atomic_write(os.path.join(bundle, "config.json"), json.dumps(spec).encode(), 0o600, sync=False)
            laps.mark("spec")
            io = IOConfig(attach_socket=self.attach_socket(c.id), tty=bool(c.config.get("Tty")),
                          open_stdin=bool(c.config.get("OpenStdin")), **log_io)
            try:
                state = await asyncio.to_thread(self.exec.create, c.id, bundle, spec, io)
            except ExecError as exc:  # runtimes like runc check the command at create time
                c.rootfs = ""
                await asyncio.to_thread(self.unmount_rootfs, c)
                await self._record_failed_start(c, exc, created=False)
                raise
            created = True
            laps.mark("create")
            crashpoints.reached("start.after_runtime")
            await self._release_attachers(c.id)
            netns = None if sandbox.share_host else (sandbox.netns_path or f"/proc/{state.pid}/ns/net")
            c.state.pid = state.pid
            joined = await asyncio.to_thread(self._join_networks, c, netns, plan)
            self.publish_network_events(c, "connect", joined)
            self.volume_events(c, "mount")
            laps.mark("join")
            crashpoints.reached("start.after_join")
            try:
                state = await asyncio.to_thread(self.exec.start, c.id)
            except ExecError as exc:
                await self._record_failed_start(c, exc)
                raise
            laps.mark("process")
            crashpoints.reached("start.after_process")
        except BaseException:
            if created and c.state.status != State.EXITED:
                self.publish_network_events(c, "disconnect", await asyncio.to_thread(self._teardown, c))
            elif not created and c.rootfs:
                c.rootfs = ""
                await asyncio.to_thread(self.unmount_rootfs, c)
            raise
        c.transition(State.RUNNING)
        c.state.pid, c.state.exit_code, c.state.error, c.state.oom_killed = state.pid, 0, "", False
        c.state.started_at = state.started_at or now_rfc3339()
        c.state.finished_at = ZERO_TIME
        self.health.start(c)
        self.store.save(c)
        self._watch(c.id)
        laps.mark("record")

    def _spec(self, c: Container, image_cfg: dict, sandbox) -> dict:
        """The OCI spec of this run: the user from the mounted rootfs, the /etc files, the volumes, and
        for a remapped container its user namespace (its files handed to the remapped root first)."""
        user = resolve_user(c.rootfs, c.config.get("User") or "", c.host_config.get("GroupAdd"))
        joins = self._namespace_joins(c)
        etc = self._etc_files(c)
        idmap = self.idmap_of(c)
        if idmap is not None:
            self._hand_to_remapped_root(c, etc, idmap)
        spec = ocispec.build_spec(container_id=c.id, config=self._config_with_links(c), host_config=c.host_config,
                                  image_config=image_cfg, rootfs=c.rootfs, hostname=c.hostname, user=user,
                                  sandbox=sandbox, etc_files=etc,
                                  extra_mounts=self.volumes.mounts(c) if self.volumes is not None else [],
                                  joins=joins, lsms=self.exec.features().security,
                                  user_namespace=self._user_namespace(c, idmap), idmap=idmap)
        root_propagation = propagation.rootfs_propagation(c.mounts)
        if root_propagation:
            spec["linux"]["rootfsPropagation"] = root_propagation
        return spec

    def _log_settings(self, c: Container) -> dict:
        """The IOConfig's log fields. A bad log option value fails the start as in dockerd: the
        container keeps its state, with the error and exit code 128 recorded."""
        try:
            return logdrivers.io_settings(c, self.store.directory(c.id))
        except logdrivers.LogDriverInitError as exc:
            c.state.error = exc.message
            c.state.exit_code = c.state.exit_code or 128
            self.store.save(c)
            raise

    async def _prepare_networking(self, c: Container):
        """The endpoints to join and the sandbox, checked before anything exists: a missing network (404),
        ``container:X`` with X not running (409), a link to a stopped container. As in dockerd, such a
        failure leaves the container's status as it was (``start`` records the error)."""
        plan = self._plan_networks(c)
        sandbox = await asyncio.to_thread(self._sandbox, c)
        if "bridge" in c.endpoints:
            legacylinks.check_children(c, self.get)
        return plan, sandbox

    def _config_with_links(self, c: Container) -> dict:
        """The Config the process starts with: legacy links' variables first, so the container's own ``Env`` wins."""
        link_env = legacylinks.environment(c, self.get) if "bridge" in c.endpoints else []
        return {**c.config, "Env": [*link_env, *(c.config.get("Env") or [])]} if link_env else c.config

    def _namespace_joins(self, c: Container) -> dict[str, int]:
        """``--pid``/``--ipc container:X``: the host pid of X's init, whose namespaces this container joins.

        X must be running (dockerd's checks and messages); an IPC donor must have made its IPC
        shareable (``--ipc shareable``, or one that is itself the host's or another container's).
        """
        joins: dict[str, int] = {}
        for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode")):
            kind_mode, sep, ref = (c.host_config.get(key) or "").partition(":")
            if kind_mode != "container" or not sep:
                continue
            prefix = f"can't join IPC of container {ref}: " if kind == "ipc" else ""
            try:
                donor = self.get(ref)
            except NotFound as exc:
                if kind == "pid":
                    raise NotFound(f"cannot join PID of a non running container: {ref}: {exc.message}") from None
                raise NotFound(prefix + exc.message) from None
            if donor.state.status == State.RESTARTING:
                raise Conflict(f"{prefix}Container {donor.id} is restarting, wait until the container is running")
            if not donor.state.running or not donor.state.pid:
                raise Conflict(f"{prefix}container {donor.id} is not running")
            donor_ipc = donor.host_config.get("IpcMode") or "shareable"
            if kind == "ipc" and not (donor_ipc in ("shareable", "host") or donor_ipc.startswith("container:")):
                raise Conflict(prefix + "non-shareable IPC (hint: use IpcMode:shareable for the donor container)")
            joins[kind] = donor.state.pid
        return joins

    def _record_start_error(self, c: Container, exc: BerthError) -> None:
        """A start refused before any process ran (a bad option, a runtime error): as dockerd, the container
        stays created with the error and exit code 128 in its state, and goes if it was ``--rm`` (its
        ``wait?condition=removed`` then reports code 128 and no error: the start's answer carried it)."""
        if not c.state.exit_code:
            c.state.exit_code = 128
        if c.host_config.get("AutoRemove"):
            c.state.error = ""
            self.store.save(c)
            asyncio.get_running_loop().create_task(self._auto_remove(c.id))
            return
        c.state.error = exc.message
        self.store.save(c)

    async def _record_failed_start(self, c: Container, exc: ExecError, created: bool = True) -> None:
        if created:
            self.publish_network_events(c, "disconnect", await asyncio.to_thread(self._teardown, c))
        c.transition(State.EXITED)
        c.state.exit_code, c.state.error, c.state.finished_at = exc.exit_code, exc.message, now_rfc3339()
        c.state.pid = 0
        self.store.save(c)
        self._notify_exit(c)
        if c.host_config.get("AutoRemove"):
            asyncio.get_running_loop().create_task(self._auto_remove(c.id))

    def _teardown(self, c: Container, laps: log.Laps | None = None) -> list:
        """Release what a run held: ports, network endpoints, runtime state, rootfs mount. Each step is idempotent.

        Returns the networks the container left, for the caller's ``network disconnect`` events;
        ``laps`` gets each step's time (``leave``, ``runtime``, ``unmount``).
        """
        laps = laps or log.Laps()
        left, errors = self._leave_all(c)
        laps.mark("leave")
        steps = [("runtime", lambda: self.exec.delete(c.id, True))]
        if c.rootfs:
            steps.append(("unmount", lambda: self.unmount_rootfs(c)))
        for phase, step in steps:
            try:
                step()
            except Exception as exc:
                errors.append(str(exc))
            laps.mark(phase)
        c.rootfs = ""
        if errors:
            log.get().warning("container.teardown", container_id=c.short_id, errors=errors)
        return left
