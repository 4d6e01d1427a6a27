"""An asyncio loop in a thread of its own, started on first use and stopped when its owner is idle.

The port proxy and the embedded DNS server each serve many sockets from one loop
inside the network driver; drivers are called from the daemon's worker threads and
must not assume access to the daemon's own event loop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Awaitable, Callable


class LoopThread:
    def __init__(self, name: str):
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def ensure(self) -> asyncio.AbstractEventLoop:
        """The running loop, started now if needed."""
        if self.loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name=self.name, daemon=True)
            thread.start()
            self.loop, self._thread = loop, thread
        return self.loop

    def stop(self, before: Callable[[], Awaitable[None]] | None = None) -> None:
        """Stop and close the loop (after awaiting ``before`` on it); nothing to do when it is not running."""
        if self.loop is None:
            return
        loop, thread = self.loop, self._thread
        self.loop = self._thread = None

        async def finish() -> None:
            if before is not None:
                await before()
            loop.stop()

        loop.call_soon_threadsafe(lambda: loop.create_task(finish()))
        thread.join()
        loop.close()
