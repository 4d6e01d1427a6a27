"""The build cache of Docker's classic builder: reuse a child image that did the same step.

A step's result is reused when an image exists whose parent is the current
image and whose ``container_config`` equals the step's: that config holds the
instruction (with the checksums of COPY/ADD sources and, for RUN, the build args
in scope) and the whole run config the step saw.
"""

from __future__ import annotations

import json
from typing import Any

from berth.images.store import Image, ImageStore


def _canonical(config: Any) -> str:
    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items() if v not in (None, "", [], {}, False)}
        if isinstance(value, list):
            return [norm(v) for v in value]
        return value

    return json.dumps(norm(config or {}), sort_keys=True)


def lookup(images: ImageStore, parent_id: str, container_config: dict[str, Any]) -> Image | None:
    """The newest child of ``parent_id`` ("" for scratch) built by the same step, if any."""
    wanted = _canonical(container_config)
    found: list[Image] = []
    for child_id in images.children(parent_id):
        try:
            child = images.get(child_id)
        except Exception:  # removed meanwhile
            continue
        if _canonical(child.config.get("container_config")) == wanted:
            found.append(child)
    if not found:
        return None
    return max(found, key=lambda im: im.created)
