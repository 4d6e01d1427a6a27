"""Daemon start-up: re-adopt containers a previous berthd left running, record exits that happened meanwhile,
and undo what a crashed berthd left half-done.

A berthd killed at any point (``kill -9``, see :mod:`berth.crashpoints`) may leave:

* a start under way (the bundle's ``starting`` marker): a mounted rootfs, a runtime
  container, joined endpoints and published ports for a container whose record does not
  say it runs. All of it is released; a container whose runtime existed is recorded as
  exited with the reason, so that ``start`` can simply be repeated;
* a removal under way (status ``removing``): the container becomes ``dead`` with the
  reason, its run's resources released, and ``rm`` finishes the job;
* a connect under way (an endpoint of a running container that was never joined):
  the driver's half of it is released and the endpoint dropped, so ``connect`` can be repeated;
* a runtime container or read-write layers with no container record at all (a create or
  a removal that died): they are deleted.
"""

from __future__ import annotations

import asyncio
import os

from berth import log
from berth.containers import endpoints
from berth.containers.model import Container, State, now_rfc3339
from berth.containers.restart import RestartPolicy
from berth.errors import BerthError
from berth.hookspecs.types import RuntimeState, RuntimeStatus

#: In a container's bundle while a start is under way; found at start-up, the start is undone.
STARTING_MARKER = "starting"

INTERRUPTED_START = "berthd stopped while starting the container; the start was undone"
INTERRUPTED_REMOVAL = "berthd stopped while removing the container; remove it again"


class RestoreMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    async def restore(self) -> None:
        """Re-adopt containers a previous daemon left running; record exits that happened meanwhile."""
        self.store.load()
        known = set(await asyncio.to_thread(self.exec.list))
        await asyncio.to_thread(self._delete_orphans, known)
        for c in list(self.store.containers.values()):
            if c.state.status in (State.REMOVING, State.DEAD):
                await self._settle_dead(c, known)
                continue
            if c.state.status == State.RESTARTING:
                c.state.status = State.EXITED
            if not c.state.running:
                await self._undo_interrupted_start(c, known)
                if RestartPolicy.from_host_config(c.host_config).restart_at_daemon_start(c.manually_stopped) \
                        and c.state.status == State.EXITED:
                    await self._restart_on_boot(c)
                continue
            await self._readopt(c, known)

    async def _readopt(self, c: Container, known: set[str]) -> None:
        """A container recorded as running: take it back, or record the exit that happened while no daemon ran."""
        try:
            state = await asyncio.to_thread(self.exec.restore, c.id) if c.id in known else None
        except BerthError as exc:
            log.get().warning("container.restore", container_id=c.short_id, error=exc.message)
            state = None
        if state is not None and state.supervised and state.status in (RuntimeStatus.RUNNING, RuntimeStatus.PAUSED):
            c.state.pid = state.pid
            for record in c.endpoints.values():
                endpoints.adopt_legacy(record, c.id)
            await asyncio.to_thread(self._drop_unjoined_endpoints, c)
            c.rootfs = await asyncio.to_thread(self.mount_rootfs, c)  # take the run's reference again
            if c.ports:
                await asyncio.to_thread(self._republish, c)
            if c.state.status == State.RUNNING:
                self.health.start(c)  # probing resumes as after a start (a paused one waits for unpause)
            self.store.save(c)
            self._watch(c.id)
            log.get().info("container.readopted", container_id=c.short_id, pid=c.state.pid)
            return
        exit_state = state or RuntimeState(c.id, RuntimeStatus.STOPPED, exit_code=255,
                                           error="container's monitor was gone when the daemon restarted")
        c.rootfs = await asyncio.to_thread(self.mount_rootfs, c)  # balanced by the teardown
        await self._on_exit(c.id, exit_state)

    def _drop_unjoined_endpoints(self, c: Container) -> None:
        """A running container's endpoint that never got joined is a connect the crash interrupted:
        release whatever the driver made of it and forget it (worker thread)."""
        for name, record in list(c.endpoints.items()):
            if endpoints.is_joined(record):
                continue
            network = self._network_of(name, record)
            try:
                if network is not None:
                    self.networks.leave(network, c.id)
            except BerthError as exc:
                log.get().warning("container.restore_endpoint", container_id=c.short_id, network=name,
                                  error=exc.message)
            del c.endpoints[name]
            log.get().info("container.connect_undone", container_id=c.short_id, network=name)

    async def _undo_interrupted_start(self, c: Container, known: set[str]) -> None:
        """A stopped container with a start under way when the daemon died: release what that start made."""
        marker = os.path.join(self.bundle(c.id), STARTING_MARKER)
        if not os.path.exists(marker) and c.id not in known:
            return
        await asyncio.to_thread(self._release_run, c)
        if c.id in known:  # a process was (or was about to be) running: say what became of it
            c.transition(State.EXITED)
            c.state.pid, c.state.exit_code, c.state.error = 0, 128, INTERRUPTED_START
            c.state.finished_at = now_rfc3339()
        self.store.save(c)
        _unlink(marker)
        log.get().info("container.start_undone", container_id=c.short_id, had_runtime=c.id in known)

    async def _settle_dead(self, c: Container, known: set[str]) -> None:
        """A removal the crash interrupted: the container is dead (dockerd's state for it), nothing of its run stays."""
        if c.state.status == State.REMOVING:
            c.state.status = State.DEAD
            c.state.error = c.state.error or INTERRUPTED_REMOVAL
        await asyncio.to_thread(self._release_run, c)
        self.store.save(c)

    def _release_run(self, c: Container) -> None:
        """Tear down whatever a run of ``c`` may hold (worker thread). The rootfs is mounted first when its layer
        exists, so that a mount left by the dead daemon is adopted and then released by the teardown."""
        try:
            if self.graph.exists(c.layer_id):
                c.rootfs = self.mount_rootfs(c)
        except BerthError as exc:
            log.get().warning("container.restore_mount", container_id=c.short_id, error=exc.message)
        self._teardown(c)
        c.state.pid = 0

    def _delete_orphans(self, known: set[str]) -> None:
        """Runtime containers and read-write layers that no container record owns (worker thread)."""
        owned = set(self.store.containers) | set(self.store.corrupt)
        for cid in sorted(known - owned):
            try:
                self.exec.delete(cid, True)
                log.get().info("container.orphan_runtime_deleted", container_id=cid[:12])
            except BerthError as exc:
                log.get().warning("container.orphan_runtime", container_id=cid[:12], error=exc.message)
        for cid in sorted(set(self.images.container_layer_owners()) - owned):
            try:
                self.images.remove_container_layers(cid)
                log.get().info("container.orphan_layers_deleted", container_id=cid[:12])
            except BerthError as exc:
                log.get().warning("container.orphan_layers", container_id=cid[:12], error=exc.message)

    async def _restart_on_boot(self, c: Container) -> None:
        try:
            await self.start(c.id)
        except BerthError as exc:
            log.get().warning("container.boot_restart", container_id=c.short_id, error=exc.message)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
