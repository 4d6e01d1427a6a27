"""What a pull and a push share: the options of any registry conversation and the set-up of one transfer.

:class:`~berth.registry.pull.Puller` and :class:`~berth.registry.push.Pusher`
both work on one image store with one HTTP session, report to one progress
sink, keep their temporary files in one directory, and run a bounded number of
layer transfers at a time (Docker's ``max-concurrent-downloads``/``-uploads``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator

import aiohttp

from berth.registry import auth
from berth.registry.distmeta import DistributionMetadata
from berth.registry.progress import Progress
from berth.registry.transport import Registry, RetryPolicy


@dataclass
class TransferOptions:
    """Who we are to the registry, which registries may be plain HTTP, and how failed requests are retried."""

    creds: auth.Credentials = auth.ANONYMOUS
    insecure: list[str] = field(default_factory=list)
    retry: RetryPolicy = RetryPolicy()


class Phases:
    """Where a transfer's time went, for its log event (``bench/pull.py`` reads it).

    A phase is a wall-clock span from the first start to the last end of its work (the
    layers' downloads overlap, and so may their extraction); ``waited`` adds up the
    time the extractions spent waiting for bytes from the network.
    """

    def __init__(self) -> None:
        self._spans: dict[str, tuple[float, float]] = {}
        self.waited = 0.0

    def span(self, name: str, started: float, waited: float = 0.0) -> None:
        """Work of phase ``name`` ran from ``started`` (``time.monotonic()``) until now."""
        now = time.monotonic()
        first, last = self._spans.get(name, (started, now))
        self._spans[name] = (min(first, started), max(last, now))
        self.waited += waited

    def fields(self) -> dict[str, float]:
        """``<phase>_ms`` for each phase seen, and ``extract_wait_ms`` when extractions waited."""
        out = {f"{name}_ms": round((last - first) * 1000, 1) for name, (first, last) in self._spans.items()}
        if self.waited:
            out["extract_wait_ms"] = round(self.waited * 1000, 1)
        return out


class Transfer:
    """One pull or push: the image store, distribution metadata, session, progress sink and temp dir."""

    def __init__(self, store: Any, meta: DistributionMetadata, session: aiohttp.ClientSession,
                 progress: Progress, options: TransferOptions, tmp_dir: str):
        self.store = store
        self.meta = meta
        self.session = session
        self.progress = progress
        self.options = options
        self.tmp_dir = tmp_dir
        self.phases = Phases()
        os.makedirs(tmp_dir, mode=0o700, exist_ok=True)

    def registry(self, host: str) -> Registry:
        """A client of ``host``'s v2 API with this transfer's credentials, insecure list and retry policy; what it
        finds probing the registry is remembered for the next transfers (:class:`Registry`)."""
        return Registry(self.session, host, self.options.creds, self.options.insecure, self.options.retry, remember=True)

    @contextlib.asynccontextmanager
    async def slot(self, semaphore: asyncio.Semaphore, sid: str) -> AsyncIterator[None]:
        """Hold one of the concurrent-transfer slots; layer ``sid`` shows ``Waiting`` while all are taken."""
        if semaphore.locked():
            self.progress.status("Waiting", sid)
        async with semaphore:
            yield
