"""The engine's event bus: Docker's ``/events`` stream and the extension event hooks.

Events are kept in a bounded ring (for ``since``) and pushed to live subscribers
(asyncio queues). Extensions listening through :mod:`berth.hookspecs.events` are
called for each event; their failures are logged, never raised.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import pluggy

from berth import PROJECT, log


class EventBus:
    def __init__(self, extensions: list[object] = (), keep: int = 1000):
        self.ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.subscribers: set[asyncio.Queue] = set()
        self.pm = pluggy.PluginManager(PROJECT)
        from berth.hookspecs import events

        self.pm.add_hookspecs(events)
        for ext in extensions:
            if any(n.startswith("berth_") for n in dir(ext)):
                self.pm.register(ext)

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict[str, Any] | None = None) -> None:
        now = time.time_ns()
        event = {
            "Type": type_, "Action": action, "status": action, "id": actor_id,
            "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": "local", "time": now // 1_000_000_000, "timeNano": now,
        }
        if type_ == "container" and attributes and "image" in attributes:
            event["from"] = attributes["image"]
        self.ring.append(event)
        for queue in list(self.subscribers):
            queue.put_nowait(event)
        try:
            if type_ == "container":
                self.pm.hook.berth_container_event(action=action, container_id=actor_id, attributes=event["Actor"]["Attributes"])
            elif type_ == "image":
                self.pm.hook.berth_image_event(action=action, image_id=actor_id, attributes=event["Actor"]["Attributes"])
        except Exception as exc:  # a listener must never break the engine
            log.get().warning("event listener failed", action=action, error=str(exc))

    def layer_applied(self, layer_id: str, diff_id: str, size: int, driver: str, seconds: float) -> None:
        """Tell extensions a graph driver applied a layer (for storage research and accounting)."""
        try:
            self.pm.hook.berth_layer_applied(layer_id=layer_id, diff_id=diff_id, size=size, driver=driver,
                                             seconds=seconds)
        except Exception as exc:
            log.get().warning("event listener failed", action="layer_applied", error=str(exc))

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)
