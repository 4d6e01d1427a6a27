"""``to_completion``: a cancelled caller waits for the work to end, then is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from berth.completion import runs_to_completion, to_completion


async def _cancel_midway(work, cancels: int = 1):
    """Start ``work`` through to_completion, cancel the caller ``cancels`` times midway; return its outcome."""
    caller = asyncio.ensure_future(to_completion(work))
    await asyncio.sleep(0.01)
    for _ in range(cancels):
        caller.cancel()
        await asyncio.sleep(0.01)
    return await asyncio.gather(caller, return_exceptions=True)


def test_the_work_ends_before_the_cancelled_caller_is_cancelled():
    steps = []

    async def work():
        steps.append("begun")
        await asyncio.sleep(0.05)
        steps.append("ended")
        return 1

    async def scenario():
        (outcome,) = await _cancel_midway(work(), cancels=3)
        return outcome

    assert isinstance(asyncio.run(scenario()), asyncio.CancelledError)
    assert steps == ["begun", "ended"]


def test_the_works_own_error_is_raised_to_a_cancelled_caller():
    async def work():
        await asyncio.sleep(0.05)
        raise ValueError("half")

    async def scenario():
        (outcome,) = await _cancel_midway(work())
        return outcome

    assert isinstance(asyncio.run(scenario()), ValueError)


def test_an_uncancelled_caller_gets_the_result_and_the_decorated_method_keeps_its_name():
    class Manager:
        @runs_to_completion
        async def start(self, value):
            """Start."""
            await asyncio.sleep(0)
            return value * 2

    assert asyncio.run(Manager().start(21)) == 42
    assert Manager.start.__name__ == "start" and Manager.start.__doc__ == "Start."


def test_the_work_cancelled_by_itself_cancels_the_caller():
    async def work():
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(to_completion(work()))
