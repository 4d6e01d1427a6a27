"""The event bus: Docker's event records, and the extension hooks listeners implement."""

import asyncio

from berth import hookimpl
from berth.events import EventBus


class Listener:
    def __init__(self):
        self.seen = []

    @hookimpl
    def berth_container_event(self, action, container_id, attributes):
        self.seen.append(("container", action, container_id, attributes.get("name")))

    @hookimpl
    def berth_layer_applied(self, layer_id, diff_id, size, driver, seconds):
        self.seen.append(("layer", layer_id, diff_id, size, driver))


class Broken:
    @hookimpl
    def berth_image_event(self, action, image_id, attributes):
        raise RuntimeError("listener bug")


def test_extensions_hear_container_events_and_layers():
    listener = Listener()
    bus = EventBus([listener])
    bus.publish("container", "start", "abc", {"name": "web"})
    bus.layer_applied("cache1", "sha256:d1", 42, "overlay", 0.01)
    assert listener.seen == [("container", "start", "abc", "web"), ("layer", "cache1", "sha256:d1", 42, "overlay")]


def test_events_have_dockers_shape_and_reach_subscribers():
    bus = EventBus()

    async def scenario():
        queue = bus.subscribe()
        bus.publish("container", "die", "abc", {"name": "web", "image": "busybox", "exitCode": "3"})
        return await asyncio.wait_for(queue.get(), 1)

    event = asyncio.run(scenario())
    assert event["Type"] == "container" and event["Action"] == "die" and event["Actor"]["ID"] == "abc"
    assert event["from"] == "busybox" and event["Actor"]["Attributes"]["exitCode"] == "3"
    assert event["time"] == event["timeNano"] // 1_000_000_000


def test_a_failing_listener_never_breaks_the_engine():
    bus = EventBus([Broken()])
    bus.publish("image", "pull", "busybox:latest", {"name": "busybox:latest"})  # must not raise
    assert list(bus.ring)[-1]["Action"] == "pull"
