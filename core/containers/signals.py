"""Signals to a running container: kill, stop (with the grace period), restart, pause, unpause."""

from __future__ import annotations

import asyncio
import signal as signals

from berth import crashpoints, log
from berth.containers.model import Container, State
from berth.errors import BerthError, Conflict, InvalidArgument, NotFound, NotModified, Unclassified


class SignalMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    def _require_running(self, c: Container, verb: str) -> None:
        if c.state.status == State.PAUSED and verb != "kill":
            raise Conflict(f"Container {c.id} is paused, unpause the container before {verb}")
        if c.state.status not in (State.RUNNING, State.PAUSED):
            raise Conflict(f"Container {c.id} is not running")

    async def kill(self, ref: str, signal: str | int = "SIGKILL") -> None:
        """Signal the container; SIGKILL (Docker's default) returns only once the exit is recorded.

        As dockerd: an immediate inspect after ``kill`` says exited and ``rm`` works; any other
        signal returns once delivered.
        """
        c = self.get(ref)
        signum = parse_signal(signal)
        if not c.state.running:
            raise Conflict(f"Cannot kill container: {c.id}: Container {c.id} is not running")
        await self._deliver(c, signum)
        if signum == signals.SIGKILL:
            await self._wait_killed(c)

    def _exits_on(self, c: Container, signum: int) -> bool:
        """Whether ``signum`` is meant to end the container (no restart after it), as dockerd decides:
        SIGKILL, the container's stop signal, or any signal when it has none."""
        stop_signal = c.config.get("StopSignal")
        return signum == signals.SIGKILL or not stop_signal or parse_signal(stop_signal) == signum

    async def _deliver(self, c: Container, signum: int) -> None:
        """Send ``signum``; a restarting container is only kept down, a paused one thawed to receive it."""
        ends = self._exits_on(c, signum)
        if c.state.status == State.RESTARTING and (not ends or await self._stop_restarting(c)):
            return  # a restarting container has no process: dockerd only keeps it down
        if ends:
            c.manually_stopped = True
            self.store.save(c)
        try:
            await asyncio.to_thread(self.exec.kill, c.id, signum, False)
        except (Conflict, NotFound):
            pass  # it exited meanwhile; its exit is being recorded
        thawed = ends and c.state.status == State.PAUSED
        if thawed:
            await self._thaw(c)  # the signal is handled once thawed
        self.event(c, "kill", signal=str(signum))
        if thawed and signum != signals.SIGKILL:
            # dockerd's resume after a SIGKILL finds no process (no event); after any other, "unpause" follows
            self.event(c, "unpause")

    async def _thaw(self, c: Container) -> None:
        """Resume a paused container so that it handles the signal it is sent; probes resume with it."""
        await asyncio.to_thread(self.exec.resume, c.id)
        c.transition(State.RUNNING)
        self.health.resume(c)
        self.store.save(c)

    async def _wait_killed(self, c: Container) -> None:
        """Wait for the recorded exit; after 10 s signal every process directly and wait 2 s more (dockerd)."""
        try:
            await asyncio.wait_for(self.wait(c.id, "not-running"), 10)
            return
        except asyncio.TimeoutError:
            log.get().warning("container.kill_slow", container_id=c.short_id, driver=self.exec.name)
        try:
            await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, True)
        except (Conflict, NotFound):
            pass
        try:
            await asyncio.wait_for(self.wait(c.id, "not-running"), 2)
        except asyncio.TimeoutError:
            raise BerthError(f"tried to kill container {c.id}, but did not receive an exit event") from None

    async def _stop_restarting(self, c: Container) -> bool:
        """Keep a container that waits for its restart down, and answer whoever waits for it to stop.

        Under the container's lock, so a restart already under way (it holds the lock while it
        starts) is never cancelled half-way: False when that restart won, and the container runs.
        """
        async with self.lock(c.id):
            if c.state.status != State.RESTARTING:
                return False
            self._cancel_restart(c.id)  # it sleeps, or waits for the lock we hold: nothing half-done
            c.manually_stopped = True
            c.transition(State.EXITED)
            self.store.save(c)
        self._notify_exit(c)
        return True

    async def stop(self, ref: str, timeout: int | None = None, signal: str | None = None) -> None:
        c = self.get(ref)
        if c.state.status == State.RESTARTING and await self._stop_restarting(c):
            return
        if not c.state.running:
            raise NotModified("container already stopped")
        c.manually_stopped = True
        # not fsynced: the exit's record, written durably moments later, carries the flag too
        self.store.save(c, durable=False)
        stop_signal = parse_signal(signal or c.config.get("StopSignal") or "SIGTERM")
        if timeout is None:
            timeout = c.config.get("StopTimeout") if c.config.get("StopTimeout") is not None else 10
        waiter = asyncio.ensure_future(self.wait(c.id, "next-exit"))
        try:
            thawed = c.state.status == State.PAUSED
            if thawed:
                await self._thaw(c)  # a frozen process cannot handle its signal
            await asyncio.to_thread(self.exec.kill, c.id, stop_signal, False)
            crashpoints.reached("stop.after_signal")
            self.event(c, "kill", signal=str(stop_signal))
            if thawed:
                self.event(c, "unpause")  # as dockerd: the kill, then the resume's event
            done, _ = await asyncio.wait({waiter}, timeout=max(timeout, 0) if timeout >= 0 else None)
            if not done:
                await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, True)
                self.event(c, "kill", signal=str(int(signals.SIGKILL)))
                await asyncio.wait_for(waiter, 30)
        except (Conflict, NotFound):
            # it exited between our check and the signal: the driver says it is not running, or already
            # forgot it (its exit is being recorded, under the container's lock, which start waits for)
            pass
        finally:
            if not waiter.done():
                waiter.cancel()
        self.event(c, "stop")

    async def restart(self, ref: str, timeout: int | None = None) -> None:
        """Stop (if running) then start. As dockerd, an ``--rm`` container is not removed by the stop,
        and every failure after the lookup is "Cannot restart container REF: ..." with status 500."""
        c = self.get(ref)
        try:
            if c.state.running:
                await self._stop_keeping(c, timeout)
            try:
                await self.start(c.id)
            except NotModified:
                pass  # the restart policy's own start came first: running is what was asked (dockerd's too)
        except BerthError as exc:
            raise Unclassified(f"Cannot restart container {ref}: {exc.message}") from exc
        self.event(c, "restart")

    async def _stop_keeping(self, c: Container, timeout: int | None) -> None:
        """``stop`` with AutoRemove off while it runs: the exit it causes must not remove the container."""
        auto_remove = c.host_config.get("AutoRemove")
        if auto_remove:
            c.host_config["AutoRemove"] = False
        try:
            await self.stop(c.id, timeout)
        except NotModified:
            pass  # it exited on its own meanwhile: start it all the same
        finally:
            if auto_remove:
                c.host_config["AutoRemove"] = auto_remove
                self.store.save(c)

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status == State.PAUSED:
                raise Conflict(f"Container {c.id} is already paused")
            self._require_running(c, "pause")
            await asyncio.to_thread(self.exec.pause, c.id)
            c.transition(State.PAUSED)
            self.health.stop(c)  # Docker does not probe a paused container
            self.store.save(c)
        self.event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with self.lock(c.id):
            if c.state.status != State.PAUSED:
                raise Conflict(f"Container {c.id} is not paused")
            await self._thaw(c)
        self.event(c, "unpause")


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
