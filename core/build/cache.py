"""The build cache of Docker's classic builder: reuse a child image that did the same step.

A step's result is reused when an image exists whose parent is the current
image and whose ``container_config`` equals the step's: that config holds the
instruction (with the checksums of COPY/ADD sources and, for RUN, the build args
in scope) and the whole run config the step saw.

With ``--cache-from`` only the named images and their ancestors serve as cache,
as in dockerd. (dockerd can also rebuild a chain from a pulled image's history
when its parents are not local; berth does not, so such an image gives no hit.)
"""

from __future__ import annotations

import json
from typing import Any

from berth import log
from berth.errors import NotFound
from berth.images.store import Image, ImageStore


def _canonical(config: Any) -> str:
    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if v not in (None, "", [], {}, False)}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    return json.dumps(norm(config or {}), sort_keys=True)


def cache_sources(images: ImageStore, references: list[str]) -> set[str] | None:
    """The image IDs ``--cache-from`` allows: each named image and its parents (None: no restriction).

    A name that is not here is skipped, as dockerd does (it logs it; the build goes on without it).
    """
    if not references:
        return None
    allowed: set[str] = set()
    for reference in references:
        try:
            image = images.get(reference)
        except NotFound:
            log.get().warning("build.cache_from_missing", reference=reference)
            continue
        while image is not None and image.id not in allowed:
            allowed.add(image.id)
            image = _parent_of(images, image)
    return allowed


def _parent_of(images: ImageStore, image: Image) -> Image | None:
    try:
        return images.get(image.parent) if image.parent else None
    except NotFound:
        return None


def lookup(images: ImageStore, parent_id: str, container_config: dict[str, Any],
           allowed: set[str] | None = None) -> Image | None:
    """The newest child of ``parent_id`` ("" for scratch) built by the same step, if any (and in ``allowed``)."""
    wanted = _canonical(container_config)
    found: list[Image] = []
    for child_id, config in images.children_configs(parent_id):
        if allowed is not None and child_id not in allowed:
            continue
        if _canonical_of(child_id, config) != wanted:
            continue
        try:
            found.append(images.get(child_id))
        except NotFound:  # removed meanwhile
            continue
    if not found:
        return None
    return max(found, key=lambda im: im.created)


_CANONICAL: dict[str, str] = {}  # image ID -> its canonical container_config (an ID names one config forever)
_CANONICAL_MAX = 4096


def _canonical_of(image_id: str, config: dict[str, Any]) -> str:
    text = _CANONICAL.get(image_id)
    if text is None:
        if len(_CANONICAL) >= _CANONICAL_MAX:
            _CANONICAL.clear()
        text = _CANONICAL[image_id] = _canonical(config.get("container_config"))
    return text
