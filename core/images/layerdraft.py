"""A layer being made: created in the graph driver, being filled, not yet recorded.

:meth:`berth.images.store.ImageStore.draft_layers` makes drafts (each listed in the
``pending`` table, so a crash leaves nothing unlisted), :meth:`~ImageStore.fill_draft`
applies a tar into one, :meth:`~ImageStore.commit_layer` records it by chain ID and
:meth:`~ImageStore.abandon_layer` removes it. A pull on a driver that applies layers
early (``graph_apply_diff_early``) fills a chain of drafts at once, each standing on the
draft below; :meth:`LayerDraft.wait_applied` is what a draft's extraction waits on before
it asks anything of the layers below it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from berth.errors import BerthError, Conflict


class LayerBelowFailed(BerthError):
    """A layer below a draft was not applied (its own error is the one to report)."""

    status = 500


class StaleDraft(Conflict):
    """A draft's parent was stored by another writer first (on another graph layer): the draft cannot be recorded."""


@dataclass
class LayerDraft:
    """One graph layer ``cache_id`` on ``parent_cache``; ``below`` is the draft it stands on, when that one
    is being applied too. ``size``, ``diff_id`` and ``recorder`` are set once it is filled; ``superseded``
    once its commit found the same chain ID stored already (the draft is then only to be abandoned)."""

    cache_id: str
    parent_cache: str | None
    below: LayerDraft | None = None
    started: float = field(default_factory=time.monotonic)
    created: bool = False
    size: int = 0
    diff_id: str = ""
    recorder: object = None
    superseded: bool = False
    _applied: threading.Event = field(default_factory=threading.Event, repr=False)
    _failed: bool = False

    def settle(self, ok: bool) -> None:
        """The fill ended (``ok``: the diff is applied); drafts above stop waiting."""
        self._failed = not ok
        self._applied.set()

    def wait_applied(self) -> None:
        """Return once this draft's diff, and so every one below it, is applied; raise if it failed.

        A draft's fill settles only after its own wait returned, so waiting on the draft
        just below covers the whole chain.
        """
        self._applied.wait()
        if self._failed:
            raise LayerBelowFailed(f"layer {self.cache_id[:12]} below was not applied")
