"""Image routes: list, inspect, and berth's offline bootstrap of busybox."""

from __future__ import annotations

import asyncio

from aiohttp import web

from berth.api import views
from berth.api.server import Routes, engine_of, json_response, query_bool

routes = Routes()


@routes.add("GET", "/images/json")
async def list_images(request: web.Request) -> web.StreamResponse:
    images = engine_of(request).images.list(all=query_bool(request, "all"))
    return json_response([views.image_summary(i) for i in images])


@routes.add("POST", "/berth/images/bootstrap")
async def bootstrap(request: web.Request) -> web.StreamResponse:
    """Build ``busybox:latest`` (or ``?reference=``) from the host's static busybox, offline."""
    from berth.images.bootstrap import bootstrap_busybox

    engine = engine_of(request)
    reference = request.query.get("reference") or "busybox:latest"
    busybox = request.query.get("busybox") or "/bin/busybox"
    image = await asyncio.to_thread(bootstrap_busybox, engine.images, reference, busybox)
    engine.events.publish("image", "import", image.id, {"name": reference})
    return json_response({"Id": image.id, "RepoTags": image.repo_tags})
