"""The userland port proxy: one asyncio loop in a thread serving every published port of the daemon.

DNAT rules carry traffic that arrives from other hosts; traffic to 127.0.0.1 and
hairpin traffic (a container reaching its own published port through a host
address) never passes the NAT prerouting hook in a way DNAT can serve, so, as
Docker's ``docker-proxy``, a listener on the host port relays it. The listener is
also what reserves the host port: binding it is how a port already in use is
detected, before any rule is written.

Sockets are created and bound in the *calling* thread (so errors surface there and
in the caller's network namespace); the loop thread only serves them. The thread
starts with the first listener and stops with the last, so an idle driver holds no
thread (nor, in tests, a network namespace alive).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading
from dataclasses import dataclass

from berth.driverkit import Conflict, InvalidArgument
from berth.plugins.netdrivers.loopthread import LoopThread

log = logging.getLogger(__name__)

UDP_IDLE_SECONDS = 90.0  # forget a UDP client after this long without traffic (as conntrack does)
BUFFER = 65536


@dataclass(frozen=True)
class Forward:
    """A listening address and the container address it relays to."""

    proto: str  # "tcp" or "udp"
    host_ip: str
    host_port: int
    target_ip: str
    target_port: int


class _UDPRelay(asyncio.DatagramProtocol):
    """Listening side of a UDP forward: one connected upstream socket per client address."""

    def __init__(self, fwd: Forward):
        self.fwd = fwd
        self.transport: asyncio.DatagramTransport | None = None
        self.clients: dict[tuple, "_UDPUpstream"] = {}

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        upstream = self.clients.get(addr)
        if upstream is None:
            upstream = _UDPUpstream(self, addr)
            self.clients[addr] = upstream
            loop = asyncio.get_running_loop()
            loop.create_task(self._open(upstream, data))
        elif upstream.transport is None:
            upstream.pending.append(data)
        else:
            upstream.touch()
            upstream.transport.sendto(data)

    async def _open(self, upstream: "_UDPUpstream", first: bytes) -> None:
        loop = asyncio.get_running_loop()
        upstream.pending.append(first)
        try:
            await loop.create_datagram_endpoint(lambda: upstream, remote_addr=(self.fwd.target_ip, self.fwd.target_port))
        except OSError as exc:
            log.debug("udp proxy %s: cannot reach %s:%s: %s", self.fwd.host_port, self.fwd.target_ip, self.fwd.target_port, exc)
            self.clients.pop(upstream.client, None)

    def close(self) -> None:
        for upstream in list(self.clients.values()):
            upstream.close()
        if self.transport:
            self.transport.close()


class _UDPUpstream(asyncio.DatagramProtocol):
    def __init__(self, relay: _UDPRelay, client: tuple):
        self.relay = relay
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport):
        self.transport = transport
        for data in self.pending:
            transport.sendto(data)
        self.pending.clear()
        self.touch()

    def touch(self) -> None:
        if self.timer:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(UDP_IDLE_SECONDS, self.close)

    def datagram_received(self, data, addr):
        self.touch()
        if self.relay.transport is not None:
            self.relay.transport.sendto(data, self.client)

    def error_received(self, exc):
        log.debug("udp proxy to %s: %s", self.relay.fwd.target_port, exc)

    def close(self) -> None:
        if self.timer:
            self.timer.cancel()
        if self.transport:
            self.transport.close()
        self.relay.clients.pop(self.client, None)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(BUFFER):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # pass the half-close on, so request/response protocols work
    except (ConnectionError, OSError):
        writer.close()


class PortProxy:
    """Every published port's listener, served by one event loop thread."""

    def __init__(self, name: str = "berth-port-proxy"):
        self.name = name
        self._lock = threading.Lock()
        self._loops = LoopThread(self.name)
        self._servers: dict[Forward, object] = {}

    # -- public API (called from any thread) ---------------------------------

    def add(self, proto: str, host_ip: str, host_port: int, target_ip: str, target_port: int) -> Forward:
        """Bind ``host_ip:host_port`` (0: any free port) and relay it; return the forward with the port bound.

        Raises :class:`Conflict` when the port is taken; nothing is left listening then.
        """
        sock = self._bind(proto, host_ip or "0.0.0.0", host_port)
        fwd = Forward(proto, host_ip or "0.0.0.0", sock.getsockname()[1], target_ip, target_port)
        with self._lock:
            loop = self._loops.ensure()
            try:
                server = asyncio.run_coroutine_threadsafe(self._serve(fwd, sock), loop).result()
            except BaseException:
                sock.close()
                self._stop_if_idle()
                raise
            self._servers[fwd] = server
        return fwd

    def remove(self, fwd: Forward) -> None:
        """Stop relaying ``fwd`` and free its port. Idempotent."""
        with self._lock:
            server = self._servers.pop(fwd, None)
            if server is not None and self._loops.loop is not None:
                asyncio.run_coroutine_threadsafe(self._close(server), self._loops.loop).result()
            self._stop_if_idle()

    def forwards(self) -> list[Forward]:
        """The forwards being served."""
        with self._lock:
            return list(self._servers)

    def close(self) -> None:
        """Stop every listener and the loop thread."""
        for fwd in self.forwards():
            self.remove(fwd)

    # -- internals -----------------------------------------------------------

    @staticmethod
    def _bind(proto: str, host_ip: str, host_port: int) -> socket.socket:
        if proto not in ("tcp", "udp"):
            raise InvalidArgument(f"cannot publish {proto} ports: only tcp and udp are supported")
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(socket.AF_INET, kind)
        try:
            if proto == "tcp":
                # Like any server: allow rebinding while old connections sit in TIME_WAIT.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host_ip, host_port))
            if proto == "tcp":
                sock.listen(128)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"cannot publish port {host_ip}:{host_port}/{proto}: the address is already in use; "
                    "choose another host port or stop what is using it"
                ) from exc
            if exc.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(f"cannot publish on {host_ip}:{host_port}/{proto}: {host_ip} is not a local address") from exc
            raise
        return sock

    def _stop_if_idle(self) -> None:
        if not self._servers:
            self._loops.stop()

    async def _serve(self, fwd: Forward, sock: socket.socket):
        loop = asyncio.get_running_loop()
        if fwd.proto == "udp":
            _, relay = await loop.create_datagram_endpoint(lambda: _UDPRelay(fwd), sock=sock)
            return relay

        conns: set[asyncio.StreamWriter] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conns.add(writer)
            try:
                up_reader, up_writer = await asyncio.open_connection(fwd.target_ip, fwd.target_port)
            except OSError as exc:
                log.debug("tcp proxy %s: cannot reach %s:%s: %s", fwd.host_port, fwd.target_ip, fwd.target_port, exc)
                writer.close()
                conns.discard(writer)
                return
            conns.add(up_writer)
            try:
                await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            finally:
                for w in (writer, up_writer):
                    w.close()
                    conns.discard(w)

        server = await asyncio.start_server(handle, sock=sock)
        server.berth_connections = conns  # type: ignore[attr-defined]
        return server

    @staticmethod
    async def _close(server) -> None:
        server.close()
        if isinstance(server, asyncio.AbstractServer):
            # Relayed connections are cut with the listener, as docker-proxy exits with its port.
            for writer in list(getattr(server, "berth_connections", ())):
                writer.close()
            await server.wait_closed()
