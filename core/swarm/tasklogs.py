"""``service logs`` and ``task logs``: the logs of the tasks' containers, merged, with the tasks' context.

Every message carries the swarm's context attributes (``com.docker.swarm.node.id``,
``.service.id``, ``.task.id``), shown with ``details``. ``tail`` applies to each
task, as swarmkit's log publishers apply it; without ``follow`` the messages come in
time order and the stream ends; with it, the tasks that start later are followed too.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator, Callable

from berth.containers import logdrivers
from berth.containers.logs import read_log

NEW_TASKS_POLL = 1.0


def _context(task: dict) -> dict[str, str]:
    return {"com.docker.swarm.node.id": task["NodeID"], "com.docker.swarm.service.id": task["ServiceID"],
            "com.docker.swarm.task.id": task["ID"]}


def _container_of(engine: Any, task: dict):
    container_id = (task["Status"].get("ContainerStatus") or {}).get("ContainerID")
    return engine.containers.store.containers.get(container_id) if container_id else None


async def _entries(engine: Any, task: dict, follow: bool, tail: int | None, since_ns: int,
                   streams: set[str]) -> AsyncIterator[list]:
    c = _container_of(engine, task)
    if c is None:
        return
    source = logdrivers.source(c.host_config, engine.containers.store.directory(c.id), c.id)
    cid = c.id

    def running() -> bool:
        current = engine.containers.store.containers.get(cid)
        return current is not None and current.state.running

    async for batch in read_log(source, follow=follow, tail=tail, since_ns=since_ns, streams=streams,
                                running=running):
        yield [(entry, {**(entry.attrs or {}), **_context(task)}) for entry in batch]


async def messages(engine: Any, tasks: Callable[[], list[dict]], follow: bool, tail: int | None, since_ns: int,
                   streams: set[str]) -> AsyncIterator[list]:
    """Batches of (entry, attributes) for the tasks ``tasks()`` names (asked again while following)."""
    if not follow:
        collected = []
        for task in tasks():
            async for batch in _entries(engine, task, False, tail, since_ns, streams):
                collected.extend(batch)
        if collected:
            yield sorted(collected, key=lambda pair: pair[0].ns)
        return
    queue: asyncio.Queue = asyncio.Queue()
    readers: dict[str, asyncio.Task] = {}

    async def pump(task: dict) -> None:
        async for batch in _entries(engine, task, True, tail, since_ns, streams):
            await queue.put(batch)

    try:
        while True:
            for task in tasks():
                if task["ID"] not in readers and _container_of(engine, task) is not None:
                    readers[task["ID"]] = asyncio.create_task(pump(task))
            try:
                yield await asyncio.wait_for(queue.get(), NEW_TASKS_POLL)
            except asyncio.TimeoutError:
                continue
    finally:
        for reader in readers.values():
            reader.cancel()
