"""System routes: ``_ping``, ``version``, ``events``, ``system/df``, ``build/prune`` (``info`` is in :mod:`berth.api.info`)."""

from __future__ import annotations

import platform

from aiohttp import web

import berth
from berth.api.server import API_VERSION, MIN_API_VERSION, Routes, api_version, engine_of, json_response

routes = Routes()

PING_HEADERS = {"Api-Version": API_VERSION, "Builder-Version": "1", "Ostype": "linux",
                "Docker-Experimental": "false", "Cache-Control": "no-cache, no-store, must-revalidate",
                "Pragma": "no-cache"}


@routes.add("GET", "/_ping")
async def ping(request: web.Request) -> web.StreamResponse:
    return web.Response(text="OK", headers=PING_HEADERS)


@routes.add("HEAD", "/_ping")
async def ping_head(request: web.Request) -> web.StreamResponse:
    return web.Response(headers={**PING_HEADERS, "Content-Type": "text/plain; charset=utf-8"})


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


@routes.add("GET", "/version")
async def version(request: web.Request) -> web.StreamResponse:
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": _arch(),
               "KernelVersion": platform.release(), "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
               "BuildTime": ""}
    engine_details = {**details, "Experimental": "false"}  # a string here, as dockerd writes it
    return json_response({
        "Platform": {"Name": "berth"},
        "Components": [{"Name": "Engine", "Version": berth.__version__, "Details": engine_details}],
        "Version": berth.__version__, **details,
    })


@routes.add("GET", "/system/df")
async def system_df(request: web.Request) -> web.StreamResponse:
    import asyncio

    from berth.api import views
    from berth.api.containers import sizes
    from berth.volumes import disk_usage

    engine = engine_of(request)
    containers = list(engine.containers.store.containers.values())
    images = []
    for image in engine.images.list():
        row = views.image_summary(image, sum(1 for c in containers if c.image_id == image.id), api_version(request))
        images.append(row)
    layers_size = sum(i.size for i in engine.images.list())
    rows = []
    for c in containers:
        row = views.container_summary(c, c.config.get("Image", ""), engine.volumes.inspect_mounts(c))
        row.update({k: v for k, v in (await asyncio.to_thread(sizes, engine, c)).items() if v})  # omitempty
        rows.append(row)
    volumes = []
    for vol in engine.volumes.list():
        usage = await asyncio.to_thread(disk_usage, vol["Mountpoint"])
        volumes.append({**vol, "UsageData": {"Size": usage, "RefCount": len(engine.volumes._in_use(vol["Name"]))}})
    # the classic builder's cache is ordinary images (counted above): no build cache records, nothing in it
    return json_response({"LayersSize": layers_size, "Images": images, "Containers": rows, "Volumes": volumes,
                          "BuildCache": [], "BuilderSize": 0})


@routes.add("POST", "/build/prune")
async def build_prune(request: web.Request) -> web.StreamResponse:
    """berth's builder keeps its cache as ordinary images (pruned with ``image prune``): nothing else to free.

    Served because ``docker system prune`` and docker-py's ``prune_builds`` call it.
    """
    return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})  # dockerd's answer when nothing went
