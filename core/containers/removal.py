"""Removal: rm (with force), prune with Docker's filters."""

from __future__ import annotations

import asyncio
import shutil
import signal as signals

from berth import crashpoints, log
from berth.completion import runs_to_completion
from berth.containers.model import Container, State, parse_time
from berth.errors import BerthError, Conflict, InvalidArgument, NotFound
from berth.filtermatch import labels_match
from berth.humanize import point_in_time


class RemovalMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    @runs_to_completion
    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        c = self.get(ref)
        laps = log.Laps()
        try:
            while True:
                await self._stop_for_remove(c, force)
                laps.mark("kill")
                async with self.lock(c.id):
                    if c.id not in self.store.containers:
                        return
                    if c.state.running or c.state.status == State.RESTARTING:
                        # a start that held the lock finished first (rm -f racing start): kill it too
                        continue
                    await self._remove_locked(c, volumes, laps)
                    break
        finally:
            self._removal_follows.discard(c.id)
        self._locks.pop(c.id, None)
        self._restart_delay.pop(c.id, None)
        self.event(c, "destroy")
        for fut in self._removed_waiters.pop(c.id, []):
            if not fut.done():
                fut.set_result((c.state.exit_code, c.state.error))

    async def _stop_for_remove(self, c: Container, force: bool) -> None:
        """Without ``force`` a running, paused or restarting container is dockerd's 409; with it, a
        restarting one stays down and a running one gets SIGKILL and is waited for."""
        if c.state.running and not force:
            state = c.state.status.value
            procedure = "Stop the container before attempting removal or force remove"
            if c.state.status == State.PAUSED:
                procedure = "Unpause and then " + procedure[0].lower() + procedure[1:]
            raise Conflict(f"You cannot remove a {state} container {c.id}. {procedure}")
        if c.state.status == State.RESTARTING:
            await self._stop_restarting(c)
        if c.state.running:
            c.manually_stopped = True
            self._removal_follows.add(c.id)  # its exit record is replaced by the removal's durable one
            waiter = asyncio.ensure_future(self.wait(c.id, "next-exit"))
            try:
                await asyncio.to_thread(self.exec.kill, c.id, signals.SIGKILL, True)
                self.event(c, "kill", signal=str(int(signals.SIGKILL)))
            except (Conflict, NotFound):
                pass  # it exited meanwhile (the driver may already have forgotten it)
            await asyncio.wait_for(waiter, 30)

    async def _remove_locked(self, c: Container, volumes: bool, laps: log.Laps | None = None) -> None:
        """Tear down and delete a stopped container (the caller holds its lock); ``laps`` gets the phases."""
        laps = laps or log.Laps()
        if c.state.status != State.REMOVING:
            c.transition(State.REMOVING)
            self.store.save(c)
        with log.job("container.remove", container_id=c.short_id, driver=self.graph.name) as ev:
            laps.into(ev)
            # one trip to a worker thread for all the blocking work (each trip is a wake-up of two threads)
            try:
                left = await asyncio.to_thread(self._remove_files, c, volumes, laps)
            except Exception:
                c.transition(State.DEAD)  # as dockerd's removal error: dead, and removable again
                self.store.save(c)
                raise
            self.publish_network_events(c, "disconnect", left)
            self.store.delete(c.id)
            laps.mark("record")

    def _remove_files(self, c: Container, volumes: bool, laps: log.Laps) -> list:
        """What a removal does off the event loop: tear down what is left of the run, remove the layers,
        release the volumes, delete the runtime bundle; returns the networks the container left."""
        left = self._teardown(c, laps)
        crashpoints.reached("rm.after_teardown")
        self.images.remove_container_layers(c.layer_id)
        laps.mark("layers")
        crashpoints.reached("rm.after_layers")
        if self.volumes is not None:
            self.volumes.release(c, volumes)
        shutil.rmtree(self.bundle(c.id), ignore_errors=True)
        return left

    def _own_changes_size(self, c: Container) -> int:
        return self.graph.diff_size(c.layer_id, self.images.container_base_layer(c.layer_id, None))

    async def prune(self, filters: dict[str, list[str]] | None = None) -> tuple[list[str], int]:
        """Remove stopped containers (Docker's filters: ``until``, ``label``, ``label!``); report the bytes freed."""
        filters = filters or {}
        until = min((_until_seconds(v) for v in filters.get("until", [])), default=None)
        removed, reclaimed = [], 0
        for c in list(self.store.containers.values()):
            if c.state.status not in (State.EXITED, State.CREATED, State.DEAD):
                continue
            if until is not None and parse_time(c.created) >= until:
                continue
            if not labels_match(filters.get("label", []), c.labels) or any(
                    labels_match([unwanted], c.labels) for unwanted in filters.get("label!", [])):
                continue
            try:  # the container's own changes: its layer against the init layer beneath it
                size = await asyncio.to_thread(self._own_changes_size, c)
            except BerthError:
                size = 0
            await self.remove(c.id)
            removed.append(c.id)
            reclaimed += size
        self.events.publish("container", "prune", "", {"reclaimed": str(reclaimed)})
        return removed, reclaimed


def _until_seconds(value: str) -> float:
    """Docker's ``until`` filter (unix seconds, RFC 3339 or a duration ago); a bad value is a 400."""
    try:
        return point_in_time(value)
    except ValueError as exc:
        raise InvalidArgument(f"invalid filter 'until={value}': {exc}") from None
