"""Daemon start-up: re-adopt containers a previous berthd left running, record exits that happened meanwhile."""

from __future__ import annotations

import asyncio

from berth import log
from berth.containers import endpoints
from berth.containers.model import Container, State
from berth.containers.restart import RestartPolicy
from berth.errors import BerthError
from berth.hookspecs.types import RuntimeState, RuntimeStatus


class RestoreMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

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
                for record in c.endpoints.values():
                    endpoints.adopt_legacy(record, c.id)
                c.rootfs = await asyncio.to_thread(self.mount_rootfs, c)  # take the run's reference again
                if c.ports:
                    await asyncio.to_thread(self._republish, c)
                if c.state.status == State.RUNNING:
                    self.health.start(c)  # probing resumes as after a start (a paused one waits for unpause)
                self.store.save(c)
                self._watch(c.id)
                log.get().info("container.readopted", container_id=c.short_id, pid=c.state.pid)
                continue
            exit_state = state or RuntimeState(c.id, RuntimeStatus.STOPPED, exit_code=255,
                                               error="container's monitor was gone when the daemon restarted")
            c.rootfs = await asyncio.to_thread(self.mount_rootfs, c)  # balanced by the teardown
            await self._on_exit(c.id, exit_state)

    async def _restart_on_boot(self, c: Container) -> None:
        try:
            await self.start(c.id)
        except BerthError as exc:
            log.get().warning("container.boot_restart", container_id=c.short_id, error=exc.message)
