"""The aiohttp application: versioned routes, Docker's error bodies, one log event per request.

Every route is served both unversioned and under ``/v1.NN``. A version above
:data:`API_VERSION` or below :data:`MIN_API_VERSION` is refused as Docker does.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from berth import log
from berth.errors import BerthError

API_VERSION = "1.45"
MIN_API_VERSION = "1.24"
VERSION_PREFIX = r"/{api_version:v[0-9]+\.[0-9]+}"
#: The largest request body read whole (every JSON body; streamed bodies such as build contexts, archives and
#: image tars are not held in memory and have no limit). Docker's JSON bodies are kilobytes: a body of this size is
#: a mistake or an attack, and parsing it would take gigabytes of the daemon's memory.
MAX_JSON_BODY = 32 << 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENGINE_KEY = web.AppKey("engine", object)


def engine_of(request: web.Request) -> Any:
    return request.app[ENGINE_KEY]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def api_version(request: web.Request) -> tuple[int, ...]:
    """The API version the client asked for in the path (``/v1.41/...``); the current one when unversioned."""
    version = request.match_info.get("api_version")
    return _version_tuple(version[1:] if version else API_VERSION)


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def error_response(status: int, message: str) -> web.Response:
    return json_response({"message": message}, status)


@web.middleware
async def docker_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map engine errors and aiohttp's own to ``{"message": ...}`` with Docker's status codes."""
    started = time.monotonic()
    status = 500
    try:
        version = request.match_info.get("api_version")
        if version:
            wanted = _version_tuple(version[1:])
            if wanted > _version_tuple(API_VERSION):
                raise web.HTTPBadRequest(reason=f"client version {version[1:]} is too new. "
                                                f"Maximum supported API version is {API_VERSION}")
            if wanted < _version_tuple(MIN_API_VERSION):
                raise web.HTTPBadRequest(reason=f"client version {version[1:]} is too old. Minimum supported API "
                                                f"version is {MIN_API_VERSION}, please upgrade your client to a newer version")
        response = await handler(request)
        status = response.status
        return response
    except BerthError as exc:
        status = exc.status
        if status == 304:
            return web.Response(status=304)
        return error_response(status, exc.message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        # dockerd's router answers a known path with an unknown method like an unknown path
        status = 404
        return error_response(404, "page not found")
    except web.HTTPRequestEntityTooLarge:
        status = 413
        return error_response(413, f"request body too large: berthd reads request bodies of up to {MAX_JSON_BODY} "
                                   "bytes (streamed bodies such as build contexts and archives have no limit)")
    except web.HTTPException as exc:
        status = exc.status
        return error_response(exc.status, exc.reason or exc.text or "error")
    except (ValueError, KeyError, TypeError) as exc:
        status = 400
        return error_response(400, f"invalid request: {exc}")
    except ConnectionError:  # reset, lost, broken pipe
        if request.transport is not None and not request.transport.is_closing():
            raise  # not this client's connection: an error of the handler
        # the client went away while a stream was being written (stats, logs, events): nothing to answer, and
        # nothing gone wrong; aiohttp drops the connection quietly when writing this answer fails as well
        status = 499
        return web.Response(status=499)
    finally:
        log.get().debug("api.request", method=request.method, path=request.path, status=status,
                        duration_ms=round((time.monotonic() - started) * 1000, 1))


class Routes:
    """Collects (method, path, handler) and registers each both with and without the version prefix."""

    def __init__(self) -> None:
        self.table: list[tuple[str, str, Handler]] = []

    def add(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def decorator(handler: Handler) -> Handler:
            self.table.append((method, path, handler))
            return handler

        return decorator

    def install(self, app: web.Application) -> None:
        for method, path, handler in self.table:
            app.router.add_route(method, path, handler)
            app.router.add_route(method, VERSION_PREFIX + path, handler)


def route_modules() -> tuple[Any, ...]:
    """The modules whose ``routes`` make up the API."""
    from berth.api import (attach, build, containers, events, execs, filesystem, images, info, networks, plugins,
                           registry, secrets, services, swarm, system, volumes)

    return (system, info, events, containers, attach, execs, images, filesystem, networks, volumes, registry, build,
            swarm, services, secrets, plugins)


def registered_routes() -> set[tuple[str, str]]:
    """Every (method, path template) served, templates as the API spec writes them (``/images/{name}/json``)."""
    import re

    return {(method, re.sub(r"\{(\w+):[^}]*\}", r"{\1}", path))
            for module in route_modules() for method, path, _ in module.routes.table}


class _MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a header over the limit, a broken request line) as an error
    with a traceback; it is the client's mistake, answered with a 4xx: one warning line without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "a malformed request was refused with %s: %s", (error.code, error.message), None, None)
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def create_app(engine: Any) -> web.Application:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _MalformedRequests) for f in server_log.filters):
        server_log.addFilter(_MalformedRequests())
    app = web.Application(middlewares=[docker_errors], client_max_size=MAX_JSON_BODY)
    app[ENGINE_KEY] = engine
    for module in route_modules():
        module.routes.install(app)
    return app


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request's JSON body; an empty body is ``{}``; malformed JSON is Docker's 400.

    Every Engine API body berth serves is a JSON object, so any other JSON value is refused
    here rather than failing later on ``body.get`` (a 500).
    """
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason=f"invalid JSON: the request body must be a JSON object, "
                                        f"not {type(body).__name__}")
    return body


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    return value.lower() not in ("0", "false", "no")


def query_int(request: web.Request, name: str, default: int | None = None) -> int | None:
    value = request.query.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"invalid value for {name}: {value!r}") from None


def query_filters(request: web.Request) -> dict[str, list[str]]:
    """Docker's ``filters`` parameter as {key: [values]}: a JSON object of string lists, or the legacy
    {key: {value: true}} form. Anything else is a 400 naming the parameter."""
    raw = request.query.get("filters")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"invalid filters: {raw!r} is not JSON") from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason=f"invalid filters: {raw!r}: expected a JSON object of value lists")
    out: dict[str, list[str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):  # legacy form: the keys whose flag is true
            value = [k for k, on in value.items() if on]
        elif isinstance(value, (str, bool, int, float)):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, (str, bool, int, float)) for v in value):
            raise web.HTTPBadRequest(reason=f"invalid filters: the value of {key!r} must be a list of strings")
        out[key] = [str(v).lower() if isinstance(v, bool) else str(v) for v in value]
    return out


def query_time_ns(request: web.Request, name: str) -> int:
    """:func:`query_time` in nanoseconds, exact for Docker's ``seconds.nanoseconds`` form (0 when absent).

    A float cannot hold today's nanoseconds: a ``--since`` copied from ``logs -t`` must find that entry.
    """
    import re

    value = request.query.get(name, "")
    match = re.fullmatch(r"(\d+)(?:\.(\d{1,9}))?", value)
    if match:
        return int(match.group(1)) * 1_000_000_000 + int((match.group(2) or "").ljust(9, "0"))
    seconds = query_time(request, name)
    return round(seconds * 1e9) if seconds else 0


def query_time(request: web.Request, name: str) -> float | None:
    """Docker's ``since``/``until`` (unix seconds, RFC 3339 or a duration ago); None when absent."""
    from berth.humanize import point_in_time

    value = request.query.get(name)
    if not value:
        return None
    try:
        return point_in_time(value)
    except ValueError as exc:
        raise web.HTTPBadRequest(reason=f"invalid value for {name}: {exc}") from None
