"""Raw streams over HTTP: hijacked connections (attach, exec) and the 8-byte multiplexing header.

Docker's clients ask for attach/exec with ``Connection: Upgrade`` / ``Upgrade: tcp``
and expect ``101 UPGRADED``; after that the connection is a plain byte pipe. We
take the socket away from aiohttp by swapping the transport's protocol.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from berth import detachkeys
from berth.streamframe import STDERR, STDIN, STDOUT, frame  # noqa: F401 (the API's stream ids and frames)

STREAM_IDS = {"stdout": STDOUT, "stderr": STDERR}
CLIENT_CHECK = 2.0  # seconds between looks at whether the client of a long request is still there
RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"


def log_message(entry, attrs: dict[str, str] | None, tty: bool, timestamps: bool, details: bool) -> bytes:
    """One log entry as a logs stream carries it: ``details`` (the attributes, sorted and query-escaped, as
    dockerd prints them) then the timestamp before the data, framed unless the container has a tty."""
    data = entry.data
    if details:
        from urllib.parse import quote_plus

        data = ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in sorted((attrs or {}).items())).encode() \
            + b" " + data
    if timestamps:
        data = entry.time.encode() + b" " + data
    return data if tty else frame(STREAM_IDS[entry.stream], data)


def stream_type(request: web.Request, tty: bool) -> str:
    """The Content-Type of an attach, exec or logs stream: multiplexed only without a tty, and (as
    dockerd) only for clients of API 1.42 or later; older ones were told raw-stream either way."""
    from berth.api.server import api_version

    return MULTIPLEXED_STREAM if not tty and api_version(request) >= (1, 42) else RAW_STREAM


class RawConnection(asyncio.Protocol):
    """The client side of a hijacked connection: incoming bytes queue up; writes go straight out."""

    def __init__(self, transport: asyncio.Transport):
        self.transport = transport
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        transport.set_protocol(self)

    def data_received(self, data: bytes) -> None:
        self.incoming.put_nowait(data)

    def eof_received(self) -> bool:
        self.incoming.put_nowait(b"")
        return True  # keep our write side open: output may still follow a closed stdin

    def connection_lost(self, exc: Exception | None) -> None:
        self.incoming.put_nowait(b"")
        self.closed.set()

    def write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


class WebSocketClient:
    """A websocket in the place of a hijacked connection (``attach/ws``): each write is one message,
    sent in order by one task; each message received is input; a close is the end of input."""

    def __init__(self, ws, binary: bool = True):
        self.ws, self.binary = ws, binary
        self.incoming: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = asyncio.Event()
        self._outgoing: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._sender = asyncio.ensure_future(self._send())
        self._receiver = asyncio.ensure_future(self._receive())

    def write(self, data: bytes) -> None:
        if data and not self.closed.is_set():
            self._outgoing.put_nowait(data)

    def close(self) -> None:
        self._outgoing.put_nowait(None)

    async def finished(self) -> None:
        """Wait until what was written went out and the socket is closed."""
        await self._sender
        self._receiver.cancel()

    async def _send(self) -> None:
        try:
            while (data := await self._outgoing.get()) is not None:
                if self.binary:
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(data.decode(errors="replace"))
        except (ConnectionError, RuntimeError):
            pass  # the client went away
        finally:
            await self.ws.close()
            self.closed.set()

    async def _receive(self) -> None:
        from aiohttp import WSMsgType

        try:
            async for message in self.ws:
                if message.type == WSMsgType.BINARY:
                    self.incoming.put_nowait(message.data)
                elif message.type == WSMsgType.TEXT:
                    self.incoming.put_nowait(message.data.encode())
        finally:
            self.incoming.put_nowait(b"")
            self.closed.set()


async def hijack(request: web.Request, content_type: str = RAW_STREAM) -> tuple[web.StreamResponse, RawConnection]:
    """Answer 101 (or 200 for clients that did not ask to upgrade) and take over the socket.

    Before API 1.42 dockerd names every hijacked stream ``raw-stream``, framed or not.
    """
    from berth.api.server import api_version

    if api_version(request) < (1, 42):
        content_type = RAW_STREAM
    upgrade = "upgrade" in request.headers.get("Connection", "").lower()
    if upgrade:
        response = web.StreamResponse(status=101, reason="UPGRADED", headers={
            "Content-Type": content_type, "Connection": "Upgrade", "Upgrade": "tcp"})
        await response.prepare(request)
    else:
        # Pre-upgrade clients get a bare 200 whose body is the raw stream until close (no chunking).
        request.transport.write(f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                                "Connection: close\r\n\r\n".encode())
        response = web.StreamResponse(status=200)
        response.force_close()
    return response, RawConnection(request.transport)


def parse_detach_keys(spec: str | None) -> bytes:
    """Docker's detach keys as bytes; a bad spec is a 400, as in Docker."""
    from berth.errors import InvalidArgument

    try:
        return detachkeys.parse(spec)
    except ValueError as exc:
        raise InvalidArgument(f"Invalid detach keys ({spec}) provided: {exc}") from None


DetachScanner = detachkeys.Scanner


def client_gone(request: web.Request) -> bool:
    """Whether the client closed its connection (aiohttp does not cancel a handler when it does)."""
    return request.transport is None or request.transport.is_closing()


async def unless_client_leaves(request: web.Request, task: asyncio.Future, interval: float = CLIENT_CHECK):
    """``task``'s result, or None when the client goes away first (then ``task`` is cancelled, so an
    abandoned request holds nothing); whether it is still there is looked at every ``interval`` seconds."""
    try:
        while not task.done():
            if client_gone(request):
                return None
            await asyncio.wait({task}, timeout=interval)
        return task.result()
    finally:
        task.cancel()
