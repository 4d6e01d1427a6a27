"""Swarm routes: the swarm itself (init, join, leave, inspect, update, unlock) and its nodes.

The work is :mod:`berth.swarm`'s; these handlers read requests as dockerd reads them
(the body decoded into its Go type first: an empty body is "got EOF while reading
request body", a mistyped field Go's unmarshal error; then the query), and answer
with dockerd's JSON. Outside a swarm every cluster route answers dockerd's 503, after
the same request checks: clients such as docker-py's and compose's clean-up call
``leave_swarm(force=True)`` and take a 503 as "nothing to leave".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from berth.api.server import Routes, api_version, engine_of, json_response, query_filters
from berth.errors import InvalidArgument
from berth.swarm import apitypes, gojson

routes = Routes()


def swarm_of(request: web.Request):
    return engine_of(request).swarm


async def read_go_body(request: web.Request, go_type: Any) -> dict:
    """The body decoded as dockerd's ``json.NewDecoder(body).Decode(&value)`` of ``go_type``."""
    raw = (await request.read()).decode(errors="replace")
    if not raw.strip():
        raise InvalidArgument("got EOF while reading request body")
    try:
        data, _ = json.JSONDecoder().raw_decode(raw.lstrip())  # Go reads one value and ignores what follows
    except ValueError as exc:
        raise InvalidArgument(f"invalid character in request body: {exc}") from None
    return gojson.decode(data, go_type)


def query_version(request: web.Request, kind: str) -> int:
    """The ``version`` an update names, parsed as dockerd does (configs and secrets have their own wording)."""
    raw = request.query.get("version", "")
    if raw.isdigit() and int(raw) < 2**64:
        return int(raw)
    if kind in ("config", "secret"):
        raise InvalidArgument(f"invalid {kind} version")
    reason = "invalid syntax" if not raw.isdigit() else "value out of range"
    raise InvalidArgument(f"invalid {kind} version '{raw}': strconv.ParseUint: parsing \"{raw}\": {reason}")


def query_go_bool(request: web.Request, name: str, message: str | None = None) -> bool:
    """A boolean query parameter read by Go's ``strconv.ParseBool`` (absent or empty: false)."""
    raw = request.query.get(name, "")
    if raw in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if raw in ("", "0", "f", "F", "false", "FALSE", "False"):
        return False
    raise InvalidArgument(message or f"invalid value for {name}: {raw}: strconv.ParseBool: parsing \"{raw}\": "
                                     "invalid syntax")


def form_bool(request: web.Request, name: str) -> bool:
    """dockerd's ``httputils.BoolValue``: anything but "", "0", "no", "false", "none" is true."""
    return request.query.get(name, "").strip().lower() not in ("", "0", "no", "false", "none")


def empty_response(status: int = 200) -> web.Response:
    """dockerd's answer without a body (JSON content type, no content)."""
    return web.Response(status=status, content_type="application/json" if status != 204 else None)


# ---------------------------------------------------------------------------
# the swarm itself
# ---------------------------------------------------------------------------


@routes.add("POST", "/swarm/init")
async def init(request: web.Request) -> web.StreamResponse:
    body = await read_go_body(request, apitypes.InitRequest)
    if api_version(request) < (1, 39):  # these fields came with API 1.39 and 1.40
        body["DefaultAddrPool"], body["SubnetSize"] = None, 0
    if api_version(request) < (1, 40):
        body["DataPathPort"] = 0
    node_id = await swarm_of(request).init(body)
    return json_response(node_id)


@routes.add("POST", "/swarm/join")
async def join(request: web.Request) -> web.StreamResponse:
    body = await read_go_body(request, apitypes.JoinRequest)
    await asyncio.to_thread(swarm_of(request).cluster.join, body)
    return empty_response()


@routes.add("POST", "/swarm/leave")
async def leave(request: web.Request) -> web.StreamResponse:
    await swarm_of(request).leave(form_bool(request, "force"))
    return empty_response()


@routes.add("GET", "/swarm")
async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(gojson.encode(swarm_of(request).cluster.swarm_value(), apitypes.Swarm))


@routes.add("POST", "/swarm/update")
async def update(request: web.Request) -> web.StreamResponse:
    spec = await read_go_body(request, apitypes.SwarmSpec)
    version = query_version(request, "swarm")
    rotate = {}
    for flag, name in (("rotateWorkerToken", "RotateWorkerToken"), ("rotateManagerToken", "RotateManagerToken"),
                       ("rotateManagerUnlockKey", "RotateManagerUnlockKey")):
        rotate[name] = query_go_bool(request, flag, f"invalid value for {flag}: {request.query.get(flag, '')}")
    await asyncio.to_thread(swarm_of(request).cluster.update, version, spec, rotate)
    return empty_response()


@routes.add("GET", "/swarm/unlockkey")
async def unlock_key(request: web.Request) -> web.StreamResponse:
    return json_response({"UnlockKey": swarm_of(request).cluster.unlock_key()})


@routes.add("POST", "/swarm/unlock")
async def unlock(request: web.Request) -> web.StreamResponse:
    body = await read_go_body(request, apitypes.UnlockRequest)
    swarm_of(request).cluster.unlock(body["UnlockKey"])
    return empty_response()


# ---------------------------------------------------------------------------
# nodes
# ---------------------------------------------------------------------------


@routes.add("GET", "/nodes")
async def list_nodes(request: web.Request) -> web.StreamResponse:
    filters = query_filters(request)
    return json_response(swarm_of(request).nodes.list(filters))


@routes.add("GET", "/nodes/{id}")
async def inspect_node(request: web.Request) -> web.StreamResponse:
    nodes = swarm_of(request).nodes
    return json_response(nodes.json(nodes.get(request.match_info["id"])))


@routes.add("POST", "/nodes/{id}/update")
async def update_node(request: web.Request) -> web.StreamResponse:
    spec = await read_go_body(request, apitypes.NodeSpec)
    version = query_version(request, "node")
    swarm_of(request).nodes.update(request.match_info["id"], version, spec)
    return empty_response()


@routes.add("DELETE", "/nodes/{id}")
async def remove_node(request: web.Request) -> web.StreamResponse:
    swarm_of(request).nodes.remove(request.match_info["id"], form_bool(request, "force"))
    return empty_response()
