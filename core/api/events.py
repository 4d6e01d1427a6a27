"""``GET /events``: dockerd's event stream, its replay window and its filters.

As dockerd: with ``since`` or ``until`` the kept events in that window are replayed
first; an ``until`` in the past ends the response after the replay, one in the future
keeps the stream open until then; without ``until`` it stays open until the client
goes. Filters are matched by :func:`berth.events.matches`.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from berth.api.server import Routes, engine_of, query_filters, query_time
from berth.api.streams import CLIENT_CHECK, client_gone
from berth.errors import InvalidArgument
from berth.events import matches

routes = Routes()


@routes.add("GET", "/events")
async def events(request: web.Request) -> web.StreamResponse:
    bus = engine_of(request).events
    filters = query_filters(request)
    since, until = query_time(request, "since"), query_time(request, "until")
    if since is not None and until is not None and until < since:
        raise InvalidArgument(f"`since` time ({request.query['since']}) cannot be after "
                              f"`until` time ({request.query['until']})")
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)  # the headers go at once, as dockerd flushes them
    queue = bus.subscribe()
    kept = list(bus.ring)  # taken with the subscription: nothing is missed or sent twice
    try:
        if since is not None or until is not None:
            for event in kept:
                moment = event["timeNano"] / 1e9
                if moment >= (since or 0) and (until is None or moment <= until) and matches(event, filters):
                    await response.write(_line(event))
        if until is None or until > time.time():
            await _follow(request, response, queue, filters, until)
    finally:
        bus.unsubscribe(queue)
    await response.write_eof()
    return response


async def _follow(request: web.Request, response: web.StreamResponse, queue: asyncio.Queue,
                  filters: dict[str, list[str]], until: float | None) -> None:
    """Send new events until ``until`` (unix seconds; None: until the client goes, which is noticed
    within a few seconds even when no event comes, so its subscription does not linger)."""
    while not client_gone(request):
        left = None if until is None else until - time.time()
        if left is not None and left <= 0:
            return
        try:
            event = await asyncio.wait_for(queue.get(), CLIENT_CHECK if left is None else min(left, CLIENT_CHECK))
        except asyncio.TimeoutError:
            continue
        if matches(event, filters):
            await response.write(_line(event))


def _line(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode() + b"\n"
