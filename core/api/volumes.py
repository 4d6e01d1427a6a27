"""Volume routes: list, create, inspect, delete, prune."""

from __future__ import annotations

import asyncio

from aiohttp import web

from berth.containers.validate import check_fields
from berth.api.server import Routes, engine_of, json_response, query_bool, query_filters, read_json

routes = Routes()


def _filters(request: web.Request) -> dict:
    return query_filters(request)


@routes.add("GET", "/volumes")
async def list_volumes(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    volumes = engine.volumes.list()
    filters = _filters(request)
    if "name" in filters:
        volumes = [v for v in volumes if any(n in v["Name"] for n in filters["name"])]
    if "dangling" in filters:
        want = list(filters["dangling"])[0] in ("true", "1", True)
        volumes = [v for v in volumes if (not engine.volumes._in_use(v["Name"])) == want]
    if "label" in filters:
        for label in filters["label"]:
            key, sep, value = label.partition("=")
            volumes = [v for v in volumes if key in v["Labels"] and (not sep or v["Labels"][key] == value)]
    return json_response({"Volumes": volumes, "Warnings": []})


@routes.add("POST", "/volumes/create")
async def create_volume(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_fields("volume config", body, {"Name": "str", "Driver": "str", "Labels": "str_dict",
                                         "DriverOpts": "str_dict"})
    engine = engine_of(request)
    vol = await asyncio.to_thread(engine.volumes.create, body.get("Name") or None, body.get("Labels"),
                                  body.get("Driver") or "local", body.get("DriverOpts"))
    engine.events.publish("volume", "create", vol["Name"], {"driver": "local"})
    return json_response(vol, 201)


@routes.add("GET", "/volumes/{name}")
async def inspect_volume(request: web.Request) -> web.StreamResponse:
    return json_response(engine_of(request).volumes.inspect(request.match_info["name"]))


@routes.add("DELETE", "/volumes/{name}")
async def remove_volume(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    name = request.match_info["name"]
    await asyncio.to_thread(engine.volumes.remove, name, query_bool(request, "force"))
    engine.events.publish("volume", "destroy", name, {"driver": "local"})
    return web.Response(status=204)


@routes.add("POST", "/volumes/prune")
async def prune_volumes(request: web.Request) -> web.StreamResponse:
    engine = engine_of(request)
    filters = _filters(request)
    all_volumes = "all" in filters and list(filters["all"])[0] in ("true", "1", True)
    removed, reclaimed = await asyncio.to_thread(engine.volumes.prune, all_volumes)
    return json_response({"VolumesDeleted": removed, "SpaceReclaimed": reclaimed})
