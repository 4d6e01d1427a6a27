"""Secret and config routes: create, list, inspect, update (labels), delete — :mod:`berth.swarm.secrets`."""

from __future__ import annotations

from aiohttp import web

from berth.api.server import Routes, api_version, json_response, query_filters
from berth.api.swarm import empty_response, query_version, read_go_body, swarm_of
from berth.errors import InvalidArgument
from berth.swarm.secrets import CONFIG, SECRET, Kind

routes = Routes()


def _objects(request: web.Request, kind: Kind):
    swarm = swarm_of(request)
    swarm.cluster.require_manager()
    return swarm.secrets if kind is SECRET else swarm.configs


def _register(kind: Kind) -> None:
    async def create(request: web.Request) -> web.StreamResponse:
        spec = await read_go_body(request, kind.spec_type)
        if spec["Templating"] is not None and api_version(request) < (1, 37):
            version = ".".join(map(str, api_version(request)))
            raise InvalidArgument(f"{kind.name} templating is not supported on the specified API version: {version}")
        return json_response({"ID": _objects(request, kind).create(spec)}, 201)

    async def listing(request: web.Request) -> web.StreamResponse:
        filters = query_filters(request)
        return json_response(_objects(request, kind).list(filters))

    async def inspect(request: web.Request) -> web.StreamResponse:
        objects = _objects(request, kind)
        return json_response(objects.view(objects.get(request.match_info["id"])))

    async def update(request: web.Request) -> web.StreamResponse:
        spec = await read_go_body(request, kind.spec_type)
        version = query_version(request, kind.name)
        _objects(request, kind).update(request.match_info["id"], version, spec)
        return empty_response()

    async def remove(request: web.Request) -> web.StreamResponse:
        _objects(request, kind).remove(request.match_info["id"])
        return empty_response(204)

    routes.add("POST", f"/{kind.plural}/create")(create)
    routes.add("GET", f"/{kind.plural}")(listing)
    routes.add("GET", f"/{kind.plural}/{{id}}")(inspect)
    routes.add("POST", f"/{kind.plural}/{{id}}/update")(update)
    routes.add("DELETE", f"/{kind.plural}/{{id}}")(remove)


_register(SECRET)
_register(CONFIG)
