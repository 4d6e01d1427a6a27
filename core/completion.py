"""Operations that run to their end even when their caller is cancelled.

A container's create, start or removal does its blocking work in worker threads, and a
thread cannot be stopped: cancelling the coroutine that waits for it would leave the
runtime, the layers or the record half made, with nobody left to finish or undo them.
Go's dockerd has the same shape (its start ignores the request's context once under
way). So such an operation runs as a task of its own; a cancelled caller waits for it to
end and is cancelled then.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


async def to_completion(work: Awaitable[T]) -> T:
    """Await ``work`` to its end; a cancellation meanwhile is raised once it has ended (its own error first)."""
    job = asyncio.ensure_future(work)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(job)
            break
        except asyncio.CancelledError:
            if job.done():  # the work itself was cancelled, or ended just as the caller was
                if not job.cancelled():
                    job.exception()  # seen: the caller's cancellation is what it gets
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return result


def runs_to_completion(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Decorate an async method with :func:`to_completion`."""

    @functools.wraps(method)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        return await to_completion(method(*args, **kwargs))

    return wrapper
