"""``POST /build``: Docker's classic builder over the API.

The body is the build context as a tar (plain or gzip). Query parameters are
Docker's: ``t`` (repeatable), ``dockerfile``, ``buildargs`` and ``labels`` (JSON),
``target``, ``nocache``, ``pull``, ``rm``, ``forcerm``, ``q``, ``networkmode``,
``platform``, ``cachefrom`` (JSON), and the RUN containers' ``extrahosts``,
``ulimits``, memory, CPU and ``shmsize`` settings. As in Moby, an error found before the build starts (no Dockerfile,
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
from berth.api.server import Routes, engine_of, query_bool, query_int
from berth.errors import BerthError, InvalidArgument, NotImplementedYet

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
    _refuse_what_berth_cannot_build(request)
    rm = query_bool(request, "rm", True)
    return BuildOptions(
        dockerfile=request.query.get("dockerfile") or "Dockerfile", tags=tags, build_args=build_args,
        target=request.query.get("target") or None, labels=labels, no_cache=query_bool(request, "nocache"),
        pull=query_bool(request, "pull"), rm=rm, force_rm=query_bool(request, "forcerm"),
        quiet=query_bool(request, "q"), network_mode=request.query.get("networkmode") or "default",
        platform=request.query.get("platform") or None, run_host_config=run_host_config(request),
        cache_from=[str(ref) for ref in _json_list_param(request, "cachefrom", "cache-from")],
    )


# query parameter -> the RUN containers' HostConfig field (0 or "" means unset, as the docker CLI sends them)
RUN_LIMITS = {"memory": "Memory", "memswap": "MemorySwap", "cpushares": "CpuShares", "cpuperiod": "CpuPeriod",
              "cpuquota": "CpuQuota", "shmsize": "ShmSize"}
RUN_SETTINGS = {"cpusetcpus": "CpusetCpus", "cpusetmems": "CpusetMems", "cgroupparent": "CgroupParent"}


def run_host_config(request: web.Request) -> dict[str, Any]:
    """What the RUN steps' containers get from the query: limits, ``extrahosts``, ``ulimits``."""
    host_config: dict[str, Any] = {}
    for param, key in RUN_LIMITS.items():
        if value := query_int(request, param, 0):
            host_config[key] = value
    for param, key in RUN_SETTINGS.items():
        if value := request.query.get(param):
            host_config[key] = value
    if extra_hosts := request.query.getall("extrahosts", []):
        host_config["ExtraHosts"] = extra_hosts
    if ulimits := _json_list_param(request, "ulimits", "ulimit settings"):
        host_config["Ulimits"] = ulimits
    return host_config


def _json_list_param(request: web.Request, name: str, what: str) -> list:
    raw = request.query.get(name)
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise InvalidArgument(f"error reading {what}: {exc}") from None
    if not isinstance(value, list):
        raise InvalidArgument(f"error reading {what}: expected a JSON array, got {type(value).__name__}")
    return value


def _refuse_what_berth_cannot_build(request: web.Request) -> None:
    """Options dockerd refuses here too (same words), and BuildKit or remote contexts, which berth lacks."""
    if request.query.getall("securityopt", []):
        raise InvalidArgument("The daemon on this platform does not support setting security options on build")
    if query_bool(request, "squash"):
        raise InvalidArgument("squash is only supported with experimental mode")
    isolation = request.query.get("isolation", "")
    if isolation not in ("", "default"):
        raise InvalidArgument(f'Unsupported isolation: "{isolation}"')
    version = request.query.get("version", "")
    if version not in ("", "1", "2"):
        raise InvalidArgument(f'invalid version "{version}"')
    if version == "2":
        raise NotImplementedYet("berth has no BuildKit: build with the classic builder (version=1; "
                                "DOCKER_BUILDKIT=0 for the docker CLI)")
    if request.query.get("remote"):
        raise NotImplementedYet("building from a remote context (remote=URL) is not supported: send the context "
                                "as the request body")
    # ``outputs`` is BuildKit's; dockerd's classic builder ignores it, and so does berth's.


async def _receive_context(request: web.Request, tmp_dir: str, dockerfile: str | None, ev: dict[str, Any]):
    """Spool the body as it arrives, index it (:mod:`berth.build.receive`), then open the context
    (:func:`berth.build.context.open_context`)."""
    from berth.build.context import open_context
    from berth.build.receive import index_spool

    os.makedirs(tmp_dir, mode=0o700, exist_ok=True)
    spool = tempfile.TemporaryFile(dir=tmp_dir)
    try:
        size = 0
        while chunk := await request.content.read(1 << 20):
            spool.write(chunk)  # into the page cache: cheaper than a trip to a thread per chunk
            size += len(chunk)
        index = await asyncio.to_thread(index_spool, spool)
    except BaseException:
        spool.close()
        raise
    ev["bytes"], ev["indexed"] = size, index is not None
    return await asyncio.to_thread(open_context, spool, index, tmp_dir, dockerfile)


def _line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj).encode() + b"\r\n"


@routes.add("POST", "/build")
async def build(request: web.Request) -> web.StreamResponse:
    from berth.build.builder import Builder, BuildFailed
    from berth.build.parser import parse

    engine = engine_of(request)
    options = options_from(request)
    tmp = os.path.join(engine.data_root, "tmp")
    with log.job("build.context") as ev:
        context = await _receive_context(request, tmp, options.dockerfile, ev)
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
                from berth.images.reference import familiar

                for tag in options.tags:
                    await asyncio.to_thread(engine.images.tag, image.id, tag)
                    engine.events.image("tag", image.id, familiar(tag))
                    if not options.quiet:
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
        await _close(context)  # first: a client that sees the stream end finds the scratch gone
        await response.write_eof()
        return response
    finally:
        await _close(context)


async def _close(context) -> None:
    """Drop the context: in a thread when a tree is on disk to remove (an index and its spool close at once)."""
    if getattr(context, "root", None):
        await asyncio.to_thread(context.close)
    else:
        context.close()
