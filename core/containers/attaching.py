"""Attach: hand clients the monitor's attach socket, holding a start until they are connected."""

from __future__ import annotations

import asyncio

from berth.containers.model import Container, State
from berth.errors import Conflict


class AttachMixin:
    """Methods of :class:`~berth.containers.manager.ContainerManager` (see its docstring for the shared state)."""

    def check_attachable(self, c: Container, ref: str) -> None:
        """dockerd refuses an attach to a paused or restarting container (409), naming it as the client did."""
        if c.state.status == State.PAUSED:
            raise Conflict(f"container {ref} is paused, unpause the container before attach")
        if c.state.status == State.RESTARTING:
            raise Conflict(f"container {ref} is restarting, wait until the container is running")

    async def attach_target(self, ref: str) -> tuple[str, asyncio.Future | None]:
        """The monitor's attach socket, and a future to resolve once connected (None if already running).

        For a container that is not running yet this waits for its start, which in
        turn waits (briefly) for attachers to connect so no early output is missed.
        """
        return await self.attach_waiter(ref)

    def attach_waiter(self, ref: str) -> asyncio.Future:
        """:meth:`attach_target`'s answer as a future, registered at once: an attach registers itself
        before it answers its client, so a start the client sends right after cannot miss it.
        Cancel it to withdraw."""
        c = self.get(ref)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        if c.state.status in (State.RUNNING, State.PAUSED):
            fut.set_result((self.attach_socket(c.id), None))
            return fut
        if c.state.status not in (State.CREATED, State.EXITED, State.RESTARTING):
            raise Conflict(f"cannot attach to container {c.short_id}: it is {c.state.status.value}")
        self._attachers.setdefault(c.id, []).append(fut)
        return fut

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
