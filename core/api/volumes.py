"""Volume routes: list, create, inspect, delete, prune, with Docker's filters.

Filters are dockerd's: list takes ``dangling``, ``driver``, ``label`` and ``name``
(a regular expression searched in the name); prune takes ``label``, ``label!``
and ``all``. Since API 1.42 prune removes only anonymous volumes unless
``all=true``; a client asking for an older version gets the old behaviour (every
unused volume), as from dockerd.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from berth.api.server import Routes, api_version, engine_of, json_response, query_bool, query_filters, read_json
from berth.containers.validate import check_fields
from berth.errors import Unavailable
from berth.filtermatch import bool_filter, check_filter_names, labels_match, pattern_match
from berth.volumes import ANONYMOUS_LABEL

routes = Routes()

LIST_FILTERS = {"dangling", "driver", "label", "name"}
PRUNE_FILTERS = {"all", "label", "label!"}


def _checked_filters(request: web.Request, accepted: set[str]) -> dict[str, list[str]]:
    filters = query_filters(request)
    check_filter_names(filters, accepted)
    return filters


def _selector(filters: dict[str, list[str]], in_use):
    """A predicate on a volume's inspect record applying ``filters`` (``in_use(name)`` for ``dangling``)."""
    dangling = bool_filter(filters, "dangling")

    def selected(volume: dict) -> bool:
        labels = volume.get("Labels") or {}
        if "name" in filters and not pattern_match(filters["name"], volume["Name"]):
            return False
        if "driver" in filters and volume["Driver"] not in filters["driver"]:
            return False
        if filters.get("label") and not labels_match(filters["label"], labels):
            return False
        if filters.get("label!") and labels_match(filters["label!"], labels):
            return False
        return dangling is None or (not in_use(volume["Name"])) == dangling

    return selected


@routes.add("GET", "/volumes")
async def list_volumes(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    selected = _selector(_checked_filters(request, LIST_FILTERS), engine.volumes._in_use)
    volumes = await asyncio.to_thread(engine.volumes.list)
    return json_response({"Volumes": [v for v in volumes if selected(v)], "Warnings": None})


@routes.add("POST", "/volumes/create")
async def create_volume(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_fields("volume config", body, {"Name": "str", "Driver": "str", "Labels": "str_dict",
                                         "DriverOpts": "str_dict"})
    engine = engine_of(request)
    name = body.get("Name") or None
    vol = await asyncio.to_thread(engine.volumes.create, name, body.get("Labels"), body.get("Driver") or "local",
                                  body.get("DriverOpts"), anonymous=name is None)
    return json_response(vol, 201)


@routes.add("GET", "/volumes/{name}")
async def inspect_volume(request: web.Request) -> web.StreamResponse:
    return json_response(engine_of(request).volumes.inspect(request.match_info["name"]))


@routes.add("PUT", "/volumes/{name}")
async def update_volume(request: web.Request) -> web.StreamResponse:
    """API 1.42: updates cluster volumes only, and berth is never a swarm manager (dockerd's 503 then)."""
    raise Unavailable("volume update only valid for cluster volumes, but swarm is unavailable")


@routes.add("DELETE", "/volumes/{name}")
async def remove_volume(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    name = request.match_info["name"]
    await asyncio.to_thread(engine.volumes.remove, name, query_bool(request, "force"))
    return web.Response(status=204)


@routes.add("POST", "/volumes/prune")
async def prune_volumes(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    filters = _checked_filters(request, PRUNE_FILTERS)
    every_volume = bool_filter(filters, "all") or api_version(request) < (1, 42)
    if not every_volume:
        filters = {**filters, "label": [*filters.get("label", []), ANONYMOUS_LABEL]}
    selected = _selector(filters, engine.volumes._in_use)
    removed, reclaimed = await asyncio.to_thread(engine.volumes.prune, selected)
    engine.events.publish("volume", "prune", "", {"reclaimed": str(reclaimed)})
    return json_response({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})
