"""The engine's event bus: Docker's ``/events`` stream and the extension event hooks.

Events are kept in a bounded ring (for ``since``) and pushed to live subscribers
(asyncio queues). Extensions listening through :mod:`berth.hookspecs.events` are
called for each event; their failures are logged, never raised.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Callable

from berth import log
from berth.errors import BerthError
from berth.filtermatch import labels_match


class EventBus:
    def __init__(self, extensions: list[object] = (), keep: int = 1000):
        self.ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.subscribers: set[asyncio.Queue] = set()
        self._loop: asyncio.AbstractEventLoop | None = None  # the daemon's, once an event was published on it
        #: an image's labels by ID or reference ({} when unknown); the engine sets it once images exist
        self.image_labels: Callable[[str], dict[str, str]] = lambda ref: {}
        from berth.extensions import as_extension
        from berth.hookspecs import events
        from berth.pluginmanager import KindManager

        self.pm = KindManager()
        self.pm.add_hookspecs(events)
        for ext in map(as_extension, extensions):
            if ext.event_hooks():  # only its listeners: an extension may also wrap driver hooks
                self.pm.register_only(ext.plugin, ext.event_hooks(), name=f"extension:{ext.name}")

    def publish(self, type_: str, action: str, actor_id: str, attributes: dict[str, Any] | None = None,
                scope: str = "local") -> None:
        """Record and broadcast one event in dockerd's message shape: container and image events also
        carry the old ``status``/``id`` (and a container's ``from``, its image) fields, others do not.
        ``scope``: ``swarm`` for the swarm's objects (services, nodes, secrets, configs, its networks)."""
        now = time.time_ns()
        event: dict[str, Any] = {}
        if type_ in ("container", "image"):  # Go leaves the empty ones out (a prune's actor has no ID)
            event["status"] = action
            if actor_id:
                event["id"] = actor_id
            if type_ == "container" and attributes and attributes.get("image"):
                event["from"] = attributes["image"]
        event.update({
            "Type": type_, "Action": action, "Actor": {"ID": actor_id, "Attributes": dict(attributes or {})},
            "scope": scope, "time": now // 1_000_000_000, "timeNano": now,
        })
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:  # a worker thread (volumes created at container create...): deliver on the loop
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._deliver, event)
                return
        self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        """Keep ``event`` for replays, hand it to every subscriber and to the listening extensions."""
        self.ring.append(event)
        for queue in list(self.subscribers):
            queue.put_nowait(event)
        type_, action, actor_id = event["Type"], event["Action"], event["Actor"]["ID"]
        try:
            if type_ == "container":
                self.pm.hook.berth_container_event(action=action, container_id=actor_id, attributes=event["Actor"]["Attributes"])
            elif type_ == "image":
                self.pm.hook.berth_image_event(action=action, image_id=actor_id, attributes=event["Actor"]["Attributes"])
        except Exception as exc:  # a listener must never break the engine
            log.get().warning("event listener failed", action=action, error=str(exc))

    def image(self, action: str, actor_id: str, name: str = "", labels: dict[str, str] | None = None) -> None:
        """An image event as dockerd logs it: the image's labels (``labels``, else looked up while it
        exists), then ``name``."""
        attributes = dict(self.image_labels(actor_id) if labels is None else labels)
        if name:
            attributes["name"] = name
        self.publish("image", action, actor_id, attributes)

    def layer_applied(self, layer_id: str, diff_id: str, size: int, driver: str, seconds: float) -> None:
        """Tell extensions a graph driver applied a layer (for storage research and accounting)."""
        try:
            self.pm.hook.berth_layer_applied(layer_id=layer_id, diff_id=diff_id, size=size, driver=driver,
                                             seconds=seconds)
        except Exception as exc:
            log.get().warning("event listener failed", action="layer_applied", error=str(exc))

    def subscribe(self) -> asyncio.Queue:
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)


# ---------------------------------------------------------------------------
# dockerd's event filters
# ---------------------------------------------------------------------------

#: actions whose filter values match by prefix (``exec_start`` matches ``exec_start: sh -c ...``)
_PREFIXED_ACTIONS = {"health_status", "exec_create", "exec_start"}


def matches(event: dict[str, Any], filters: dict[str, list[str]]) -> bool:
    """Whether ``event`` passes ``filters`` as dockerd decides: every key must hold; ``container``,
    ``network``, ``volume`` and ``daemon`` match the actor's ID or name by prefix (whatever the
    event's type, so ``container=x`` leaves out other types' events); ``image`` the image by ID,
    reference or name without its tag; ``label`` every ``key``/``key=value``; unknown keys are ignored."""
    attributes = event["Actor"]["Attributes"]
    actor = (event["Actor"]["ID"], attributes.get("name", ""))
    events = filters.get("event", [])
    if events and not (_prefixed(events, event["Action"]) if _PREFIXED_ACTIONS & set(events)
                       else event["Action"] in events):
        return False
    if filters.get("type") and event["Type"] not in filters["type"]:
        return False
    if filters.get("scope") and event["scope"] not in filters["scope"]:
        return False
    for key in ("container", "network", "volume", "daemon", "plugin", "node", "service", "secret", "config"):
        wanted = filters.get(key, [])
        if wanted and not any(_prefixed(wanted, value) for value in actor):
            return False
    if filters.get("image") and not _image_matches(filters["image"], event):
        return False
    return labels_match(filters.get("label", []), attributes)


def _prefixed(values: list[str], source: str) -> bool:
    """dockerd's ``FuzzyMatch``: equal to, or starting with, one of ``values``."""
    return any(source == v or source.startswith(v) for v in values)


def _image_matches(values: list[str], event: dict[str, Any]) -> bool:
    actor_id = event["Actor"]["ID"]
    name = event["Actor"]["Attributes"].get("name" if event["Type"] == "image" else "image", "")
    candidates = {actor_id, name, _without_tag(actor_id), _without_tag(name)}
    return any(v in candidates for v in values)


def _without_tag(reference: str) -> str:
    """``busybox:latest`` -> ``busybox`` (a reference's familiar name); anything else unchanged."""
    from berth.images import reference as refs

    try:
        return refs.parse(reference, default_tag=False).familiar_name
    except BerthError:
        return reference
