"""A scratch read-write layer on an image, and committing a layer's diff as the next image layer.

Docker's builder commits a step's container; a diff with no change at all gives
no layer (the history entry is then ``empty_layer``), as Moby's
``image.NewChildImage`` does. The diff is spooled to a temporary file first so
an empty one is recognised without storing it.
"""

from __future__ import annotations

import secrets
import shutil
import tarfile
import tempfile
from typing import Callable

from berth.images.store import Image, ImageStore, Layer


def layer_from_work(images: ImageStore, image: Image | None, work: Callable[[str], None],
                    tmp_dir: str) -> Layer | None:
    """Run ``work(tree)`` on a scratch read-write layer over ``image`` and commit what it changed.

    The scratch layer is always removed; returns the new layer, or None when nothing changed.
    """
    graph = images.graph
    layer_id = "build-" + secrets.token_hex(16)
    base = image.layer_id if image else None
    graph.create_rw(layer_id, base, {})
    try:
        root = graph.mount(layer_id)
        try:
            work(root)
        finally:
            graph.unmount(layer_id)
        return commit_diff(images, layer_id, base, image, tmp_dir)
    finally:
        graph.remove(layer_id)


def commit_diff(images: ImageStore, layer_id: str, base_layer: str | None, image: Image | None,
                tmp_dir: str) -> Layer | None:
    """Store the changes of ``layer_id`` (against ``base_layer``) on ``image``'s top layer.

    Returns the new layer, or None when nothing changed (an empty layer).
    """
    stream = images.graph.diff(layer_id, base_layer)
    with tempfile.TemporaryFile(dir=tmp_dir) as spool:
        try:
            shutil.copyfileobj(stream, spool, 1 << 20)
        finally:
            stream.close()
        spool.seek(0)
        try:
            with tarfile.open(fileobj=spool, mode="r:") as tar:
                empty = tar.next() is None
        except tarfile.ReadError:
            empty = True  # a zero-byte stream is an empty diff too
        if empty:
            return None
        spool.seek(0)
        return images.add_layer(image.top_layer if image else None, spool)
