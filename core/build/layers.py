"""A scratch read-write layer on an image, for build steps that change files without a container.

COPY, ADD and WORKDIR run ``work(tree)`` on the mounted scratch layer; what it
changed is committed by :func:`berth.images.commit.commit_layer` (no layer when
nothing changed, as for any commit).
"""

from __future__ import annotations

import secrets
import time
from typing import Callable

from berth import crashpoints
from berth.fsutil import deferred_sync
from berth.images.commit import commit_layer
from berth.images.store import Image, ImageStore, Layer


def layer_from_work(images: ImageStore, image: Image | None, work: Callable[[str], None],
                    timings: dict | None = None) -> Layer | None:
    """Run ``work(tree)`` on a scratch read-write layer over ``image`` and commit what it changed.

    The scratch layer is always removed; returns the new layer, or None when nothing changed.
    ``timings`` gets ``work_ms`` (the files' work) and ``layer_ms`` (diff and store).
    """
    timings = {} if timings is None else timings
    started = time.monotonic()
    graph = images.graph
    layer_id = "build-" + secrets.token_hex(16)
    base = image.layer_id if image else None
    images.begin_scratch_layer(layer_id)  # durable: from here a crash leaves the layer to start-up
    try:
        with deferred_sync():  # so the scratch layer's own files need no fsync: it is thrown away
            graph.create_rw(layer_id, base, {})
        root = graph.mount(layer_id)
        try:
            work(root)
            crashpoints.reached("build.mid_copy")
        finally:
            graph.unmount(layer_id)
        worked = time.monotonic()
        timings["work_ms"] = round((worked - started) * 1000, 1)
        layer = commit_layer(images, layer_id, base, image, consume=True)
        timings["layer_ms"] = round((time.monotonic() - worked) * 1000, 1)
        return layer
    finally:
        with deferred_sync():  # a record a crash loses names a layer start-up then finds gone: fine
            images.end_scratch_layer(layer_id)
