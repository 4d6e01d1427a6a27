"""Swarm routes answered as dockerd answers them on a node that is not part of a swarm.

berth has no swarm mode, so it is always such a node. dockerd then answers every
cluster route with 503 and one of two messages (not a manager; not part of a
swarm), and ``info.Swarm.LocalNodeState`` is ``inactive``. Clients rely on that:
docker-py's and compose's clean-up calls ``leave_swarm(force=True)`` and treats a
503 as "nothing to leave", whereas a 404 is a real error. As in dockerd, a
request's body and query parameters are checked (400) before the node's state.
``swarm init`` and ``swarm join`` are refused with a 503 that says why.
"""

from __future__ import annotations

from aiohttp import web

from berth.api.server import Routes, query_filters, read_json
from berth.errors import InvalidArgument, Unavailable

routes = Routes()

NOT_A_MANAGER = ('This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this '
                 'node to swarm and try again.')
NOT_PART_OF_A_SWARM = "This node is not part of a swarm"
NO_SWARM_MODE = "berth does not implement swarm mode: this node cannot init or join a swarm"

# Object kinds whose routes all need a manager, with the word dockerd uses in "invalid <kind> version".
MANAGED_KINDS = {"services": "service", "nodes": "node", "secrets": "secret", "configs": "config"}


async def _read_body(request: web.Request) -> dict:
    """The JSON body dockerd's handlers decode; an empty one is its 400."""
    if not (await request.read()).strip():
        raise InvalidArgument("got EOF while reading request body")
    return await read_json(request)


def _check_version(request: web.Request, kind: str) -> None:
    """The ``version`` an update must name, checked as dockerd does (configs have their own wording)."""
    raw = request.query.get("version", "")
    if raw.isdigit():
        return
    if kind == "config":
        raise InvalidArgument("invalid config version")
    raise InvalidArgument(f"invalid {kind} version '{raw}': strconv.ParseUint: parsing \"{raw}\": invalid syntax")


def _check_bool(request: web.Request, name: str) -> None:
    raw = request.query.get(name)
    if raw and raw.lower() not in ("1", "0", "t", "f", "true", "false"):
        raise InvalidArgument(f"invalid value for {name}: {raw}: strconv.ParseBool: parsing \"{raw}\": invalid syntax")


def _check_log_streams(request: web.Request) -> None:
    if not any(request.query.get(stream, "") not in ("", "0", "false") for stream in ("stdout", "stderr")):
        raise InvalidArgument("Bad parameters: you must choose at least one stream")


# ---------------------------------------------------------------------------
# the swarm itself
# ---------------------------------------------------------------------------


@routes.add("POST", "/swarm/init")
async def init(request: web.Request) -> web.StreamResponse:
    await _read_body(request)
    raise Unavailable(NO_SWARM_MODE)


@routes.add("POST", "/swarm/join")
async def join(request: web.Request) -> web.StreamResponse:
    await _read_body(request)
    raise Unavailable(NO_SWARM_MODE)


@routes.add("POST", "/swarm/leave")
async def leave(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NOT_PART_OF_A_SWARM)


@routes.add("GET", "/swarm")
@routes.add("GET", "/swarm/unlockkey")
async def inspect(request: web.Request) -> web.StreamResponse:
    raise Unavailable(NOT_A_MANAGER)


@routes.add("POST", "/swarm/update")
async def update(request: web.Request) -> web.StreamResponse:
    await _read_body(request)
    _check_version(request, "swarm")
    raise Unavailable(NOT_A_MANAGER)


@routes.add("POST", "/swarm/unlock")
async def unlock(request: web.Request) -> web.StreamResponse:
    await _read_body(request)
    raise Unavailable(NOT_A_MANAGER)


# ---------------------------------------------------------------------------
# services, nodes, tasks, secrets, configs
# ---------------------------------------------------------------------------


async def list_objects(request: web.Request) -> web.StreamResponse:
    query_filters(request)
    _check_bool(request, "status")
    raise Unavailable(NOT_A_MANAGER)


async def one_object(request: web.Request) -> web.StreamResponse:
    _check_bool(request, "insertDefaults")
    raise Unavailable(NOT_A_MANAGER)


async def create_object(request: web.Request) -> web.StreamResponse:
    await _read_body(request)
    raise Unavailable(NOT_A_MANAGER)


def update_object(kind: str):
    async def handler(request: web.Request) -> web.StreamResponse:
        await _read_body(request)
        _check_version(request, kind)
        raise Unavailable(NOT_A_MANAGER)

    return handler


async def object_logs(request: web.Request) -> web.StreamResponse:
    _check_log_streams(request)
    raise Unavailable(NOT_A_MANAGER)


def _register_managed_routes() -> None:
    for plural, singular in MANAGED_KINDS.items():
        routes.add("GET", f"/{plural}")(list_objects)
        routes.add("GET", f"/{plural}/{{id}}")(one_object)
        routes.add("DELETE", f"/{plural}/{{id}}")(one_object)
        routes.add("POST", f"/{plural}/{{id}}/update")(update_object(singular))
        if plural != "nodes":
            routes.add("POST", f"/{plural}/create")(create_object)
    routes.add("GET", "/services/{id}/logs")(object_logs)
    routes.add("GET", "/tasks")(list_objects)
    routes.add("GET", "/tasks/{id}")(one_object)
    routes.add("GET", "/tasks/{id}/logs")(object_logs)


_register_managed_routes()
