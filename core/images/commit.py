"""``commit``: a read-write layer's changes become a new image layer on top of an image (Moby's ``daemon/commit.go``).

Two steps serve both ``POST /commit`` and the builder's steps:

* :func:`commit_layer` diffs a read-write layer against the layer below it (a
  container's init layer, so the engine's /etc/hosts placeholders never end up
  in an image) and stores the diff on the image's top layer; a diff with no
  change at all gives no layer (None), as Moby's ``image.NewChildImage`` treats
  an empty tar (the history entry is then ``empty_layer``);
* :func:`create_child` stores the child image from a config given in full, with
  the parent's layers plus the new one, and drops the new layer again if that fails.

:func:`commit` is ``POST /commit``: the config is the image's, with the container's
settings, the ``changes`` applied, and one more history entry (``empty_layer``
when nothing changed). The new image's parent is the container's image.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, BinaryIO

from berth import crashpoints
from berth.errors import NotSupported
from berth.images.changes_dsl import apply_changes
from berth.images.pipestream import read_exactly
from berth.images.store import Image, ImageStore, Layer

_PER_COMMIT_KEYS = ("rootfs", "history", "created", "container", "container_config", "author", "comment", "id", "parent")


@dataclass
class CommitRequest:
    """What ``POST /commit`` asks for; ``container_config`` is Docker's container ``Config``."""

    container_id: str
    layer_id: str
    image_id: str
    container_config: dict[str, Any]
    command: str
    reference: str | None = None
    comment: str = ""
    author: str = ""
    changes: list[str] = field(default_factory=list)
    config_override: dict[str, Any] | None = None  # the API body's Config, merged over the container's


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_config(image: Image, req: CommitRequest, diff_ids: list[str], version: str) -> dict[str, Any]:
    """The new image's config (without computing anything on disk)."""
    base = {k: v for k, v in (image.config or {}).items() if k not in _PER_COMMIT_KEYS}
    container_config = json.loads(json.dumps(req.container_config or {}))
    run_config = dict(container_config)
    for key, value in (req.config_override or {}).items():
        if value not in (None, "", [], {}):
            run_config[key] = value
    created = _now()
    history = list((image.config or {}).get("history") or [])
    entry = {"created": created, "created_by": req.command}
    if req.author:
        entry["author"] = req.author
    if req.comment:
        entry["comment"] = req.comment
    history.append(entry)
    config = {
        **base,
        "architecture": base.get("architecture") or image.config.get("architecture", ""),
        "os": base.get("os") or "linux",
        "config": apply_changes(run_config, req.changes),
        "container": req.container_id,
        "container_config": container_config,
        "created": created,
        "docker_version": version,
        "history": history,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if req.author:
        config["author"] = req.author
    if req.comment:
        config["comment"] = req.comment
    return config


def commit_layer(store: ImageStore, layer_id: str, base_layer: str | None, image: Image | None,
                 consume: bool = False) -> Layer | None:
    """Store the changes of graph layer ``layer_id`` (against ``base_layer``) on ``image``'s top layer.

    Returns the new layer, or None when nothing changed: the diff's first tar
    block is read before anything is stored, and an empty archive starts with
    the end-of-archive (all-zero) block. With ``consume`` (a build step's layer,
    removed next) a driver that can moves the files into the new layer instead
    (:meth:`ImageStore.adopt_layer`); the stored layer is the same.
    """
    if consume and store.graph.adopts_diffs():
        try:
            return store.adopt_layer(image.top_layer if image else None, layer_id, base_layer)
        except NotSupported:
            pass  # e.g. an entry a layer tar refuses: the tar path says so
    stream = store.graph.diff(layer_id, base_layer)
    try:
        head = read_exactly(stream, _TAR_BLOCK)
        if len(head) < _TAR_BLOCK or head == bytes(_TAR_BLOCK):
            return None
        return store.add_layer(image.top_layer if image else None, _Prefixed(head, stream))
    finally:
        stream.close()


_TAR_BLOCK = 512


class _Prefixed(io.RawIOBase):
    """``head`` followed by the rest of ``stream``: a diff whose first block was already read."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buf))
        buf[:len(data)] = data
        return len(data)


def create_child(store: ImageStore, image: Image | None, layer: Layer | None, config: dict[str, Any],
                 reference: str | None = None) -> Image:
    """Store the image ``config`` (final but for ``rootfs``) on ``image``'s layers plus ``layer`` (if any).

    ``image`` None is ``FROM scratch``. A ``layer`` no image ended up using is
    released when the image cannot be created.
    """
    layers = (store.image_layers(image) if image else []) + ([layer] if layer is not None else [])
    config["rootfs"] = {"type": "layers", "diff_ids": [lay.diff_id for lay in layers]}
    try:
        return store.create_image(config, layers, reference, parent=image.id if image else "")
    except BaseException:
        if layer is not None:
            store.discard_layers([layer])
        raise


def commit(store: ImageStore, req: CommitRequest, base_layer: str | None, version: str = "berth") -> Image:
    """Commit the container layer ``req.layer_id`` (diffed against ``base_layer``) as a new image."""
    image = store.get(req.image_id)
    config = build_config(image, req, [], version)  # validate the changes before any disk work
    layer = commit_layer(store, req.layer_id, base_layer, image)
    crashpoints.reached("commit.after_layer")
    if layer is None:
        config["history"][-1]["empty_layer"] = True
    return create_child(store, image, layer, config, req.reference)
