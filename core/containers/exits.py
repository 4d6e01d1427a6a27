"""Exits: watch each running container, record its exit, apply its restart policy, answer waits."""

from __future__ import annotations

import asyncio
import threading
import time

from berth import log
from berth.containers.model import Container, State, now_rfc3339, parse_time
from berth.containers.restart import RestartPolicy, next_delay
from berth.errors import BerthError, InvalidArgument
from berth.hookspecs.types import RuntimeState, RuntimeStatus


MONITOR_DIED = ("the container's monitor died while the container ran; its processes were killed, since nothing "
                "could log their output or record their exit any more")


class ExitMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

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
            self.health.stop(c)
            laps = log.Laps()
            left = await asyncio.to_thread(self._teardown, c, laps)
            c.state.pid = 0
            c.state.exit_code = state.exit_code if state.exit_code is not None else 255
            c.state.oom_killed = state.oom_killed
            c.state.error = state.error
            if not state.supervised:
                # its monitor died and the process lived on: nothing would log it or record its exit,
                # so the teardown killed it (SIGKILL's code), and the record says why
                c.state.exit_code, c.state.error = 137, MONITOR_DIED
            c.state.finished_at = state.finished_at or now_rfc3339()
            policy = RestartPolicy.from_host_config(c.host_config)
            restart = policy.should_restart(c.state.exit_code, c.restart_count, c.manually_stopped)
            c.transition(State.RESTARTING if restart else State.EXITED)
            if not restart and c.host_config.get("AutoRemove"):
                self._removal_follows.add(c.id)  # the removal's durable record replaces this one at once
            self.store.save(c, durable=c.id not in self._removal_follows)
            log.get().info("container.exit", container_id=c.short_id, exit_code=c.state.exit_code,
                           oom_killed=c.state.oom_killed, driver=self.exec.name, restart=restart, **laps.fields)
        if c.state.oom_killed:
            self.event(c, "oom")
        self.event(c, "die", exitCode=str(c.state.exit_code))
        self.publish_network_events(c, "disconnect", left)
        self.volume_events(c, "unmount")
        self._notify_exit(c)
        if restart:
            ran_for = time.time() - parse_time(c.state.started_at)
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
                c.state.error = exc.message  # what the failed restart says in inspect, as a failed start
                c.state.exit_code = c.state.exit_code or 128
                self.store.save(c)
        finally:
            self._restart_tasks.pop(container_id, None)

    def _cancel_restart(self, container_id: str) -> None:
        task = self._restart_tasks.pop(container_id, None)
        if task:
            task.cancel()

    def _notify_exit(self, c: Container) -> None:
        for fut in self._exit_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result((c.state.exit_code, c.state.error))

    async def _auto_remove(self, container_id: str) -> None:
        try:
            await self.remove(container_id, force=True)
        except BerthError as exc:
            log.get().warning("container.autoremove", container_id=container_id[:12], error=exc.message)

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
