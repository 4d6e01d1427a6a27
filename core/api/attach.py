"""``POST /containers/{id}/attach`` (and ``GET .../attach/ws``), and the byte pipe between a hijacked client and a monitor (shared with exec).

As dockerd: ``logs=1`` first replays what the container logged, ``stream=1`` then
follows its live output (waiting for a start when it is not running) until it
exits or the client detaches; without ``stream`` the connection ends after the
replay. A paused or restarting container is a 409 before the upgrade.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from berth.api.server import Routes, api_version, engine_of, query_bool
from berth.api.streams import (STREAM_IDS, DetachScanner, WebSocketClient, frame, hijack, parse_detach_keys,
                               stream_type)
from berth.containers import logdrivers
from berth.containers.logs import read_log
from berth.fsutil import unix_connect

routes = Routes()


@routes.add("POST", "/containers/{id}/attach")
async def attach(request: web.Request) -> web.StreamResponse:
    manager = engine_of(request).containers
    ref = request.match_info["id"]
    c = manager.get(ref)
    manager.check_attachable(c, ref)
    want_stdin = query_bool(request, "stdin")
    wanted = {s for s in ("stdout", "stderr") if query_bool(request, s)}
    tty = bool(c.config.get("Tty"))
    keys = parse_detach_keys(request.query.get("detachKeys"))  # a bad sequence is a 400 even when unused
    detach_keys = keys if want_stdin and tty else b""  # as dockerd: only a terminal's input is scanned
    waiter = _early_waiter(request, manager, c.id)
    try:
        response, client = await hijack(request, stream_type(request, tty))
    except BaseException:
        _withdraw(waiter)
        raise
    await _serve(request, manager, c, client, Session(want_stdin, wanted, tty, detach_keys, framed=not tty), waiter)
    return response


@routes.add("GET", "/containers/{id}/attach/ws")
async def attach_websocket(request: web.Request) -> web.StreamResponse:
    """The same over a websocket: output unframed in binary messages (text before API 1.28), input from
    the client's messages; before API 1.42 every stream is attached, whatever the query says."""
    manager = engine_of(request).containers
    ref = request.match_info["id"]
    c = manager.get(ref)
    manager.check_attachable(c, ref)
    every = api_version(request) < (1, 42)
    want_stdin = every or query_bool(request, "stdin")
    wanted = {s for s in ("stdout", "stderr") if every or query_bool(request, s)}
    tty = bool(c.config.get("Tty"))
    keys = parse_detach_keys(request.query.get("detachKeys"))
    ws = web.WebSocketResponse()
    waiter = _early_waiter(request, manager, c.id)
    try:
        await ws.prepare(request)
    except BaseException:
        _withdraw(waiter)
        raise
    client = WebSocketClient(ws, binary=api_version(request) >= (1, 28))
    detach_keys = keys if want_stdin and tty else b""
    await _serve(request, manager, c, client, Session(want_stdin, wanted, tty, detach_keys, framed=False), waiter)
    await client.finished()
    return ws


@dataclass(frozen=True)
class Session:
    """What one attach asked for: stdin, the output streams, whether the container has a terminal, the
    detach keys, and whether the client gets multiplexed frames."""

    want_stdin: bool
    wanted: set[str]
    tty: bool
    detach_keys: bytes
    framed: bool


def _early_waiter(request: web.Request, manager, container_id: str) -> asyncio.Future | None:
    """For ``stream=1``: the attach registered before the client hears the upgrade (it may send the
    start at once)."""
    return manager.attach_waiter(container_id) if query_bool(request, "stream") else None


async def _serve(request: web.Request, manager, c, client, session: Session,
                 waiter: asyncio.Future | None = None) -> None:
    """Replay the log (``logs=1``), then follow the live output (``stream=1``) until either side ends."""
    try:
        if query_bool(request, "logs"):
            try:
                source = logdrivers.source(c.host_config, manager.store.directory(c.id), c.id)
            except logdrivers.ReadLogsNotSupported as exc:
                _attach_error(client, _unreadable_log_error(c, exc), session.framed)
                return
            await _replay_log(client, source, session.wanted, session.framed)
        manager.event(c, "attach")
        if not query_bool(request, "stream"):
            client.close()
            return
        await _follow(manager, c, client, session, waiter)
    finally:
        _withdraw(waiter)


def _withdraw(waiter: asyncio.Future | None) -> None:
    """An attach that will not follow the output any more: a start must not wait for it to connect."""
    if waiter is not None and not waiter.done():
        waiter.cancel()


async def _follow(manager, c, client, session: Session, waiter: asyncio.Future | None) -> None:
    """The live output until the container exits or the client leaves or detaches."""
    try:
        reader, writer = await _connect_live(manager, c.id, client, waiter)
    except Exception as exc:
        _attach_error(client, getattr(exc, "message", str(exc)), session.framed)
        return
    if reader is None:
        return  # the client left while waiting for the container to start
    if await splice(client, reader, writer, session.want_stdin, session.wanted, session.tty,
                    detach_keys=session.detach_keys, framed=session.framed):
        manager.event(c, "detach")


def _attach_error(client, message: str, framed: bool) -> None:
    """dockerd's way of failing after the upgrade: the error on the stdout stream, then the end."""
    data = f"Error attaching: {message}\n".encode()
    client.write(frame(STREAM_IDS["stdout"], data) if framed else data)
    client.close()


def _unreadable_log_error(c, exc: logdrivers.ReadLogsNotSupported) -> str:
    """What dockerd says when ``logs=1`` meets the ``none`` driver: a running container's logger cannot be
    read; for a stopped one dockerd looks a ``none`` driver up to make a logger, and finds none."""
    if c.state.running:
        return exc.message
    return ("failed to get logging factory: logger: no log driver named 'none' is registered: "
            'error looking up logging plugin none: plugin "none" not found')


async def _replay_log(client, source, wanted: set[str], framed: bool) -> None:
    """Everything the container logged on the wanted streams, as the attach stream frames it."""
    async for batch in read_log(source, follow=False, tail=None, streams=wanted, running=lambda: False):
        client.write(b"".join(frame(STREAM_IDS[e.stream], e.data) if framed else e.data for e in batch))


async def _connect_live(manager, container_id: str, client, waiter: asyncio.Future | None = None):
    """(reader, writer) of the monitor's attach socket, waiting for a start when the container is not running;
    (None, None) when the client goes away first. ``waiter``: the first wait, registered earlier."""
    while True:
        target, waiter = waiter or asyncio.ensure_future(manager.attach_target(container_id)), None
        gone = asyncio.ensure_future(client.closed.wait())
        await asyncio.wait({target, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not target.done():
            target.cancel()
            return None, None
        socket_path, ack = target.result()
        try:
            sock = await asyncio.to_thread(unix_connect, socket_path)
        except OSError:
            # it exited between the look at its state and the connect: once that exit is recorded,
            # wait for its next start, as an attach to a stopped container does
            if ack is not None and not ack.done():
                ack.set_result(True)
            await asyncio.wait_for(manager.wait(container_id, "not-running"), 30)
            continue
        if ack is not None and not ack.done():
            ack.set_result(True)
        return await asyncio.open_unix_connection(sock=sock)


async def splice(client, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, want_stdin: bool,
                 wanted: set[str], tty: bool, before_close=None, detach_keys: bytes = b"",
                 framed: bool | None = None) -> bool:
    """Copy the monitor's output to the client and the client's input to the monitor until either ends.

    ``tty`` says whether the monitor's stream is a terminal's (raw) or framed; ``framed`` whether the
    client gets frames (default: when the stream is not a terminal's; an exec may be started with
    another ``Tty`` than it was created with, and dockerd frames as the start asked).
    ``before_close`` is awaited between the end of the output and closing the client's
    connection (exec: the exit code must be recorded before the client inspects it).
    Typing ``detach_keys`` ends the session without closing the process's stdin (Docker's ctrl-p ctrl-q);
    the result says whether that is how it ended.
    """
    scanner = DetachScanner(detach_keys)
    detached = asyncio.Event()

    async def to_client() -> None:
        await copy_output(reader, client, wanted, tty, not tty if framed is None else framed)

    async def from_client() -> None:
        while True:
            data = await client.incoming.get()
            if not data:
                break
            if want_stdin:
                data = scanner.feed(data)
                if data:
                    writer.write(data)
                    await writer.drain()
                if scanner.detached:
                    detached.set()
                    return
        if want_stdin and writer.can_write_eof():
            writer.write_eof()

    output = asyncio.ensure_future(to_client())
    inp = asyncio.ensure_future(from_client())
    closed = asyncio.ensure_future(client.closed.wait())
    detach = asyncio.ensure_future(detached.wait())
    try:
        await asyncio.wait({output, closed, detach}, return_when=asyncio.FIRST_COMPLETED)
        if before_close is not None and output.done():
            await asyncio.wait_for(before_close(), 10)
    finally:
        for task in (output, inp, closed, detach):
            task.cancel()
        writer.close()
        client.close()
    return detached.is_set()




async def copy_output(reader: asyncio.StreamReader, client, wanted: set[str], raw_source: bool, framed: bool) -> None:
    """The monitor's output to the client until it ends: a terminal's raw bytes are all stdout; framed
    output keeps only the ``wanted`` streams; each goes out framed or raw as ``framed`` says."""
    if raw_source:
        while chunk := await reader.read(65536):
            client.write(frame(STREAM_IDS["stdout"], chunk) if framed else chunk)
        return
    while True:
        try:
            header = await reader.readexactly(8)
            payload = await reader.readexactly(int.from_bytes(header[4:], "big"))
        except asyncio.IncompleteReadError:
            return
        if {1: "stdout", 2: "stderr"}.get(header[0]) in wanted:
            client.write(header + payload if framed else payload)
