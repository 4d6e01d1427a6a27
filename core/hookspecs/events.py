"""Engine events that extensions (``berth.extensions`` entry points) may listen to.

These hooks are *not* firstresult: every registered listener is called, in
registration order, after the event happened. A listener must not block; its
exceptions are logged and do not affect the engine.
"""

from __future__ import annotations

from berth import hookspec


@hookspec
def berth_container_event(action: str, container_id: str, attributes: dict) -> None:
    """A container changed: ``action`` is Docker's event action (create, start, die, destroy, ...).

    ``attributes`` holds the container's name, image and labels, and ``exitCode``
    for ``die``.
    """


@hookspec
def berth_image_event(action: str, image_id: str, attributes: dict) -> None:
    """An image changed: ``action`` is pull, tag, untag, delete, import, load, save, ..."""


@hookspec
def berth_layer_applied(layer_id: str, diff_id: str, size: int, driver: str, seconds: float) -> None:
    """A layer's diff was applied by graph driver ``driver`` in ``seconds``."""
