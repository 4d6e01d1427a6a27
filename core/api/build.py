"""``POST /build``: Docker's classic builder over the API.

The body is the build context as a tar (plain or gzip). Query parameters are
Docker's: ``t`` (repeatable), ``dockerfile``, ``buildargs`` and ``labels`` (JSON),
``target``, ``nocache``, ``pull``, ``rm``, ``forcerm``, ``q``, ``networkmode``,
``platform``. As in Moby, an error found before the build starts (no Dockerfile,
a parse error, a bad tag) is an HTTP error; after that the 200 NDJSON stream
ends with ``{"errorDetail": {"code": N, "message": ...}, "error": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

from aiohttp import web

from berth import log
from berth.api.server import Routes, engine_of, query_bool
from berth.errors import BerthError, InvalidArgument

routes = Routes()


def _json_param(request: web.Request, name: str) -> dict[str, Any]:
    raw = request.query.get(name)
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"invalid {name}: {raw!r} is not JSON (expected an object of strings)") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {name}: expected a JSON object, got {type(value).__name__}")
    return value


def options_from(request: web.Request):
    """The :class:`BuildOptions` the query asks for; tags are validated now (a 400 before any work)."""
    from berth.build.builder import BuildOptions
    from berth.images import reference as refs

    tags = [t for t in request.query.getall("t", []) if t]
    for tag in tags:
        ref = refs.parse(tag)
        if ref.digest:
            raise InvalidArgument(f"invalid tag {tag!r}: a build can be tagged with repo:tag, not a digest")
    build_args = {str(k): (None if v is None else str(v)) for k, v in _json_param(request, "buildargs").items()}
    labels = {str(k): str(v) for k, v in _json_param(request, "labels").items()}
    rm = query_bool(request, "rm", True)
    return BuildOptions(
        dockerfile=request.query.get("dockerfile") or "Dockerfile", tags=tags, build_args=build_args,
        target=request.query.get("target") or None, labels=labels, no_cache=query_bool(request, "nocache"),
        pull=query_bool(request, "pull"), rm=rm, force_rm=query_bool(request, "forcerm"),
        quiet=query_bool(request, "q"), network_mode=request.query.get("networkmode") or "default",
        platform=request.query.get("platform") or None,
    )


async def _spool_body(request: web.Request, directory: str) -> Any:
    os.makedirs(directory, mode=0o700, exist_ok=True)
    spool = tempfile.TemporaryFile(dir=directory)
    try:
        while True:
            chunk = await request.content.read(1 << 20)
            if not chunk:
                break
            await asyncio.to_thread(spool.write, chunk)
        spool.seek(0)
        return spool
    except BaseException:
        spool.close()
        raise


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\r\n"


@routes.add("POST", "/build")
async def build(request: web.Request) -> web.StreamResponse:
    from berth.build.builder import Builder, BuildFailed
    from berth.build.context import extract_context
    from berth.build.parser import parse

    engine = engine_of(request)
    options = options_from(request)
    tmp = os.path.join(engine.data_root, "tmp")
    spool = await _spool_body(request, tmp)
    try:
        context = await asyncio.to_thread(extract_context, spool, tmp, options.dockerfile)
    finally:
        spool.close()
    try:
        dockerfile = parse(context.dockerfile)
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await response.prepare(request)

        async def emit(msg: dict[str, Any]) -> None:
            await response.write(_line(msg))

        for warning in dockerfile.warnings:
            await emit({"stream": f"[WARNING]: {warning}\n"})
        builder = Builder(engine, context, dockerfile, options, emit)
        with log.job("image.build", tags=",".join(options.tags)) as ev:
            try:
                image = await builder.build()
                await emit({"aux": {"ID": image.id}})
                if options.quiet:
                    await emit({"stream": image.id + "\n"})
                else:
                    await emit({"stream": f"Successfully built {image.short_id}\n"})
                for tag in options.tags:
                    await asyncio.to_thread(engine.images.tag, image.id, tag)
                    engine.events.publish("image", "tag", image.id, {"name": tag})
                    if not options.quiet:
                        from berth.images.reference import familiar

                        await emit({"stream": f"Successfully tagged {familiar(tag)}\n"})
                ev["image_id"] = image.id[7:19]
            except BuildFailed as exc:
                ev["error"] = exc.message
                await emit({"errorDetail": {"code": exc.code, "message": exc.message}, "error": exc.message})
            except BerthError as exc:
                ev["error"] = exc.message
                await emit({"errorDetail": {"code": 1, "message": exc.message}, "error": exc.message})
            except Exception as exc:  # the stream still ends with Docker's error line
                log.get().error("build.failed", error=repr(exc))
                message = f"{type(exc).__name__}: {exc}"
                await emit({"errorDetail": {"code": 1, "message": message}, "error": message})
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(context.close)
