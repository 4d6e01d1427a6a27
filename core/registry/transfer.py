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
        os.makedirs(tmp_dir, mode=0o700, exist_ok=True)

    def registry(self, host: str) -> Registry:
        """A client of ``host``'s v2 API with this transfer's credentials, insecure list and retry policy."""
        return Registry(self.session, host, self.options.creds, self.options.insecure, self.options.retry)

    @contextlib.asynccontextmanager
    async def slot(self, semaphore: asyncio.Semaphore, sid: str) -> AsyncIterator[None]:
        """Hold one of the concurrent-transfer slots; layer ``sid`` shows ``Waiting`` while all are taken."""
        if semaphore.locked():
            self.progress.status("Waiting", sid)
        async with semaphore:
            yield
