"""Exec routes: create, start (hijacked unless detached), resize, inspect."""

from __future__ import annotations

import asyncio

from aiohttp import web

from berth.api.attach import splice
from berth.fsutil import unix_connect
from berth.containers.validate import check_exec_body
from berth.api.server import Routes, engine_of, json_response, query_int, read_json
from berth.api.streams import STREAM_IDS, frame, hijack, parse_detach_keys, stream_type

routes = Routes()


@routes.add("POST", "/containers/{id}/exec")
async def create(request: web.Request) -> web.StreamResponse:
    body = check_exec_body(await read_json(request))
    parse_detach_keys(body.get("DetachKeys") or None)  # a bad sequence is refused now, not after the upgrade
    inst = engine_of(request).execs.create(request.match_info["id"], body)
    return json_response({"Id": inst.id}, 201)


@routes.add("POST", "/exec/{id}/start")
async def start(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    execs = engine_of(request).execs
    inst = execs.get(request.match_info["id"])
    tty = bool(body.get("Tty"))  # the framing the start asks for (Go's false when absent), as dockerd
    if body.get("Detach"):
        await execs.start(inst.id, detach=True)
        return web.Response(status=200)
    keys = parse_detach_keys(inst.config.get("DetachKeys") or None)
    response, client = await hijack(request, stream_type(request, tty))
    try:
        await execs.start(inst.id, detach=False)
        reader, writer = await asyncio.open_unix_connection(
            sock=await asyncio.to_thread(unix_connect, execs.socket_path(inst)))
    except Exception as exc:  # the stream is already upgraded: report in-band, on stdout, as dockerd does
        message = getattr(exc, "message", str(exc)) + "\r\n"
        client.write(message.encode() if tty else frame(STREAM_IDS["stdout"], message.encode()))
        client.close()
        return response
    wanted = {s for s, key in (("stdout", "AttachStdout"), ("stderr", "AttachStderr")) if inst.config.get(key, True)}
    stdin = bool(inst.config.get("AttachStdin"))
    # the monitor's stream is as the exec was created; the client's framing as the start asked (dockerd)
    if await splice(client, reader, writer, stdin, wanted, bool(inst.config.get("Tty")), framed=not tty,
                    before_close=inst.done.wait,
                    detach_keys=keys if stdin and inst.config.get("Tty") else b""):  # dockerd: terminals only
        execs.detached(inst)
    return response


@routes.add("POST", "/exec/{id}/resize")
async def resize(request: web.Request) -> web.StreamResponse:
    await engine_of(request).execs.resize(request.match_info["id"], query_int(request, "h", 0) or 0,
                                          query_int(request, "w", 0) or 0)
    return web.Response(status=200)


@routes.add("GET", "/exec/{id}/json")
async def inspect(request: web.Request) -> web.StreamResponse:
    return json_response(engine_of(request).execs.inspect(request.match_info["id"]))
