"""The routing mesh on one node: a service's ``ingress``-mode published ports, load-balanced to its tasks.

dockerd publishes such a port on every node and balances connections over the
service's running tasks through IPVS on the ingress network. Here berthd listens
on the published port (all addresses of its network namespace) and forwards each
TCP connection, or each UDP client's datagrams, to the next running task in turn
(round robin), at the task's address on the ingress network and the target port.
A port another process holds cannot be published: that is logged, and the service
keeps its ports (as dockerd keeps them when a node cannot bind one).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Callable

from berth import log

UDP_IDLE = 30.0  # seconds a UDP client's flow is kept without traffic


class Listener:
    """One published port: its server and how to pick a backend."""

    def __init__(self, protocol: str, port: int, backends: Callable[[], list[tuple[str, int]]]):
        self.protocol, self.port = protocol, port
        self.backends = backends
        self._turn = itertools.count()
        self.server = None

    def pick(self) -> tuple[str, int] | None:
        choices = self.backends()
        return choices[next(self._turn) % len(choices)] if choices else None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.protocol == "tcp":
            self.server = await asyncio.start_server(self._tcp, host="0.0.0.0", port=self.port, reuse_address=True)
        else:
            self.server, _ = await loop.create_datagram_endpoint(lambda: _UdpFront(self), local_addr=("0.0.0.0",
                                                                                                      self.port))

    def close(self) -> None:
        if self.server is not None:
            self.server.close()

    async def _tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        target = self.pick()
        if target is None:
            writer.close()
            return
        try:
            back_reader, back_writer = await asyncio.open_connection(*target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, back_writer), _pipe(back_reader, writer), return_exceptions=True)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


class _UdpFront(asyncio.DatagramProtocol):
    """The published UDP port: one flow (a socket to one task) per client address."""

    def __init__(self, listener: Listener):
        self.listener = listener
        self.transport = None
        self.flows: dict[tuple, asyncio.DatagramTransport] = {}

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, client: tuple) -> None:
        flow = self.flows.get(client)
        if flow is not None:
            flow.sendto(data)
            return
        target = self.listener.pick()
        if target is not None:
            asyncio.ensure_future(self._open(client, target, data))

    async def _open(self, client: tuple, target: tuple[str, int], first: bytes) -> None:
        loop = asyncio.get_running_loop()
        back, protocol = await loop.create_datagram_endpoint(lambda: _UdpBack(self, client), remote_addr=target)
        self.flows[client] = back
        back.sendto(first)
        protocol.touch()


class _UdpBack(asyncio.DatagramProtocol):
    def __init__(self, front: _UdpFront, client: tuple):
        self.front, self.client = front, client
        self.transport = None
        self.timer = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def touch(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(UDP_IDLE, self.close)

    def datagram_received(self, data: bytes, _addr) -> None:
        self.touch()
        self.front.transport.sendto(data, self.client)

    def close(self) -> None:
        self.front.flows.pop(self.client, None)
        self.transport.close()


class RoutingMesh:
    """The listeners of every service's ingress ports, kept in step with the services."""

    def __init__(self) -> None:
        self.listeners: dict[tuple[str, int], Listener] = {}
        self.refused: set[tuple[str, int]] = set()  # ports that could not be bound (logged once, tried again)

    async def publish(self, wanted: dict[tuple[str, int], Callable[[], list[tuple[str, int]]]]) -> None:
        """Listen on exactly the ``wanted`` (protocol, published port)s, each with its backends."""
        for key in list(self.listeners):
            if key not in wanted:
                self.listeners.pop(key).close()
        for key, backends in wanted.items():
            if key in self.listeners:
                self.listeners[key].backends = backends
                continue
            listener = Listener(*key, backends)
            try:
                await listener.start()
            except OSError as exc:
                if key not in self.refused:
                    log.get().error("swarm.ingress_port", protocol=key[0], port=key[1], error=str(exc))
                    self.refused.add(key)
                continue
            self.refused.discard(key)
            self.listeners[key] = listener

    def close(self) -> None:
        for listener in self.listeners.values():
            listener.close()
        self.listeners.clear()
