"""Registry routes: pull (reached through ``POST /images/create``), push, search, and ``POST /auth``.

Pull and push answer with Docker's NDJSON progress stream. As in Docker, an error
before the first progress line (an unknown image, refused credentials) is a plain
HTTP error; an error after it is a final ``{"errorDetail": ..., "error": ...}`` line
in the 200 stream. Credentials come in ``X-Registry-Auth`` and are never stored.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

from aiohttp import web

from berth import log
from berth.api.server import Routes, engine_of, json_response, query_filters, query_int, read_json
from berth.errors import BerthError, InvalidArgument
from berth.registry import auth
from berth.registry import reference as refs
from berth.registry.progress import Progress, encode, error as error_message
from berth.registry.service import service_of

routes = Routes()


def _creds(request: web.Request) -> auth.Credentials:
    return auth.decode_header(request.headers.get("X-Registry-Auth"))


async def _stream(request: web.Request, job: Callable[[Progress], Awaitable[Any]]) -> web.StreamResponse:
    """Run ``job`` and stream its progress; errors before the first line become the HTTP status."""
    progress = Progress()

    async def run() -> None:
        try:
            await job(progress)
        finally:
            progress.close()

    task = asyncio.create_task(run())
    first = await progress.queue.get()
    if first is None:
        await task  # finished (or failed) without a word: let the error middleware map it
        return json_response([])  # pragma: no cover - every job writes a final status
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    message: dict | None = first
    try:
        while message is not None:
            await response.write(encode(message))
            message = await progress.queue.get()
    except (ConnectionResetError, asyncio.CancelledError):
        task.cancel()  # the client went away: stop downloading
        raise
    try:
        await task
    except BerthError as exc:
        await response.write(encode(error_message(exc.message)))
    except Exception as exc:  # an unexpected failure still ends the stream as Docker would
        log.get().error("registry.stream_failed", path=request.path, error=repr(exc))
        await response.write(encode(error_message(f"{type(exc).__name__}: {exc}")))
    await response.write_eof()
    return response


async def pull(request: web.Request) -> web.StreamResponse:
    """``POST /images/create?fromImage=`` (with ``tag``, ``platform``): the route is
    :func:`berth.api.images.create`, which answers ``fromSrc`` (import) itself."""
    image = request.query.get("fromImage")
    if not image:
        raise InvalidArgument("fromImage is required: the image to pull, e.g. ?fromImage=busybox&tag=latest")
    ref = refs.from_query(image, request.query.get("tag"))
    platform = request.query.get("platform") or None
    creds = _creds(request)
    service = service_of(engine_of(request))
    return await _stream(request, lambda progress: service.pull(ref, progress, creds, platform))


@routes.add("POST", "/images/{name:.+}/push")
async def push_image(request: web.Request) -> web.StreamResponse:
    """Push ``name`` (``?tag=``; without a tag, every local tag of the repository)."""
    name = request.match_info["name"]
    tag = request.query.get("tag") or None
    base = refs.parse(name, default_tag=False)
    engine = engine_of(request)
    if tag:
        targets = [refs.with_tag(base, tag)]
    elif base.tag:
        targets = [base]
    else:
        prefix = base.familiar_name + ":"
        tags = sorted({t for img in engine.images.list(all=True) for t in img.repo_tags if t.startswith(prefix)})
        targets = [refs.parse(t) for t in tags] or [refs.with_tag(base, "latest")]
    creds = _creds(request)
    service = service_of(engine)

    async def job(progress: Progress) -> None:
        for target in targets:
            await service.push(target, progress, creds)

    return await _stream(request, job)


@routes.add("GET", "/images/search")
async def search_images(request: web.Request) -> web.StreamResponse:
    term = request.query.get("term")
    if not term:
        raise InvalidArgument("term is required: what to search for")
    limit = query_int(request, "limit", 25) or 25
    filters = query_filters(request)
    results = await service_of(engine_of(request)).search(term, limit, filters, _creds(request))
    return json_response(results)


@routes.add("POST", "/auth")
async def login(request: web.Request) -> web.StreamResponse:
    """Check credentials against a registry: ``{"Status": "Login Succeeded"}`` or 401 with the reason."""
    body = await read_json(request)
    creds = auth.from_json(body)
    if creds.anonymous:
        raise InvalidArgument("username and password are required")
    status = await service_of(engine_of(request)).login(body.get("serveraddress") or None, creds)
    return json_response({"Status": status, "IdentityToken": ""})
