"""Signals to a running container: kill, stop (with the grace period), restart, pause, unpause."""

from __future__ import annotations

import asyncio
import signal as signals

from berth.containers.model import Container, State
from berth.errors import Conflict, InvalidArgument, NotModified


class SignalMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

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
