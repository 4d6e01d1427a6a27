"""``commit``: a container's changes become a new image layer on top of its image (Moby's ``daemon/commit.go``).

The container's read-write layer is diffed against the layer below it (its init
layer, so the engine's /etc/hosts placeholders never end up in an image), the
diff is applied as a new layer on the image's top layer, and a config is written
that is the image's, with the container's settings, the ``changes`` applied, and
one more history entry. The new image's parent is the container's image.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from berth.images.changes_dsl import apply_changes
from berth.images.store import Image, ImageStore

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


def commit(store: ImageStore, req: CommitRequest, base_layer: str | None, version: str = "berth") -> Image:
    """Commit the container layer ``req.layer_id`` (diffed against ``base_layer``) as a new image."""
    image = store.get(req.image_id)
    config = build_config(image, req, [], version)  # validate the changes before any disk work
    stream = store.graph.diff(req.layer_id, base_layer)
    try:
        layer = store.add_layer(image.top_layer, stream)
    finally:
        stream.close()
    layers = [*store.image_layers(image), layer]
    config["rootfs"]["diff_ids"] = [lay.diff_id for lay in layers]
    try:
        return store.create_image(config, layers, req.reference, parent=image.id)
    except BaseException:
        if store.unreferenced(layer.chain_id):
            store.release_layer(layer.chain_id)
        raise
