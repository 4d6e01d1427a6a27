"""Docker's embedded DNS server (127.0.0.11) for user-defined bridge networks: one resolver per daemon.

For every container namespace attached to a user-defined network, a UDP socket and
a listening TCP socket are created *inside that namespace*, bound to
``127.0.0.11`` on random ports: the calling worker thread ``setns``-es in, creates
and binds them, and steps back (see :mod:`.netns`); a socket stays bound to the
namespace it was created in. Port 53 reaches them through a DNAT rule in that
namespace (see :mod:`.dnsredirect`), as in Docker, so the container may still run
a DNS server of its own on ``0.0.0.0:53``. One asyncio loop in a thread of its
own serves all listeners, as the port proxy does, so there is no process per
container. Each listener knows the networks its container is attached to, so a
container resolves only the names of its own networks (see :mod:`.dnsnames`).

Queries for the networks' names (A; AAAA with the IPv6 addresses of a network with
IPv6, else an empty NOERROR; PTR for their addresses) are answered here. Every
other query is relayed unchanged to upstream servers - the container's own
``--dns`` servers, else the daemon's ``dns`` setting, else the host's
``/etc/resolv.conf`` nameservers without loopback ones - from the daemon's own
namespace (the loop thread's), and the upstream reply is passed back as is. With
no upstream, none answering, or only internal networks served, the reply is
SERVFAIL (and is quick when the upstream is unreachable: a connected UDP socket
sees the ICMP error at once).

The loop thread starts with the first listener and stops with the last, so an idle
driver holds no thread. Sockets hold their namespace alive, so a listener must be
detached when its container leaves. Each listener also keeps a descriptor of its
namespace, so that its clean-up acts on that namespace even after the
``/proc/<pid>/ns/net`` path it was given names another process.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import random
import re
import socket
import threading
from dataclasses import dataclass, field
from typing import Callable

from berth.driverkit import DriverError, InvalidArgument
from berth.plugins.netdrivers import dnsredirect, dnswire
from berth.plugins.netdrivers.dnsnames import NameTable
from berth.plugins.netdrivers.loopthread import LoopThread
from berth.plugins.netdrivers.netns import entered

log = logging.getLogger(__name__)

ADDRESS = "127.0.0.11"  # Docker's embedded resolver address, inside every container
UPSTREAM_PORT = 53
UPSTREAM_TIMEOUT = 2.0  # per upstream server; then the next one is tried
MAX_UPSTREAMS = 3  # as resolv.conf's MAXNS
MAX_INFLIGHT = 256  # forwarded queries at once; beyond that answer SERVFAIL rather than queue without bound
TCP_IDLE_SECONDS = 10.0  # close a client's TCP connection after this long without a query
HOST_RESOLV_CONF = "/etc/resolv.conf"


# ---------------------------------------------------------------------------
# upstream servers
# ---------------------------------------------------------------------------


def validate_servers(servers: list[str] | tuple[str, ...], what: str) -> list[str]:
    """Check that ``servers`` are IP addresses; return them as strings. Raises InvalidArgument."""
    out = []
    for s in servers or []:
        try:
            out.append(str(ipaddress.ip_address(str(s).strip())))
        except ValueError:
            raise InvalidArgument(f"{what}: {s!r} is not an IP address; give DNS servers as addresses such as 192.0.2.53") from None
    return out


def host_nameservers(path: str = HOST_RESOLV_CONF) -> list[str]:
    """The ``nameserver`` addresses of ``path`` except loopback ones (unreachable from containers)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    out = []
    for raw in re.findall(r"^\s*nameserver\s+(\S+)", text, re.M):
        try:
            addr = ipaddress.ip_address(raw.split("%")[0])
        except ValueError:
            continue
        if not addr.is_loopback:
            out.append(str(addr))
    return out


class DefaultUpstreams:
    """The daemon-wide upstream list: the configured ``dns`` servers, else the host's resolv.conf.

    The host file is re-read when it changes (a laptop switching networks), but not
    on every query.
    """

    def __init__(self, configured: list[str] | None, resolv_conf: str = HOST_RESOLV_CONF):
        self.configured = validate_servers(configured or [], "daemon option dns")
        self.resolv_conf = resolv_conf
        self._stamp: tuple[int, int] | None = None
        self._cached: list[str] = []

    def __call__(self) -> list[str]:
        if self.configured:
            return self.configured
        try:
            st = os.stat(self.resolv_conf)
            stamp = (st.st_mtime_ns, st.st_size)
        except OSError:
            return []
        if stamp != self._stamp:
            self._cached, self._stamp = host_nameservers(self.resolv_conf), stamp
        return self._cached


async def _ask_udp(server: str, data: bytes) -> bytes:
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        # Connected, so an ICMP "unreachable" surfaces as an error at once instead of a timeout,
        # and only the server's own datagrams are received.
        await loop.sock_connect(sock, (server, UPSTREAM_PORT))
        await loop.sock_sendall(sock, data)
        qid = int.from_bytes(data[:2], "big")
        while True:
            reply = await loop.sock_recv(sock, 65535)
            if dnswire.response_id(reply) == qid:
                return reply
    finally:
        sock.close()


async def _ask_tcp(server: str, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server, UPSTREAM_PORT)
    try:
        writer.write(len(data).to_bytes(2, "big") + data)
        await writer.drain()
        size = int.from_bytes(await reader.readexactly(2), "big")
        return await reader.readexactly(size)
    finally:
        writer.close()


async def forward(data: bytes, servers: list[str], tcp: bool) -> bytes | None:
    """Relay the raw query ``data`` to each server in turn; the first reply, or None when none answers."""
    ask = _ask_tcp if tcp else _ask_udp
    for server in servers[:MAX_UPSTREAMS]:
        try:
            return await asyncio.wait_for(ask(server, data), UPSTREAM_TIMEOUT)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
            log.debug("embedded dns: upstream %s did not answer: %r", server, exc)
    return None


# ---------------------------------------------------------------------------
# answering
# ---------------------------------------------------------------------------


def local_answer(table: NameTable, networks: frozenset[str], query: dnswire.Query, max_size: int | None,
                 asking: frozenset[tuple[str, str]] = frozenset()) -> bytes | None:
    """The reply when ``query`` is about a name or address of ``networks``, else None (forward it).

    A name with several addresses (an alias that replicas share) is answered with all of
    them in a random order, Docker's DNS round robin.
    """
    if query.qclass != dnswire.CLASS_IN:
        return None
    if query.qtype in (dnswire.TYPE_A, dnswire.TYPE_AAAA):
        family = 4 if query.qtype == dnswire.TYPE_A else 6
        found = table.lookup(networks, query.name, asking, family)
        if found is not None:
            # A name of ours without an address of that family is "no data", so the client does not ask elsewhere.
            random.shuffle(found)
            return dnswire.build_reply(query, answers=[dnswire.address_record(a) for a in found], max_size=max_size)
    elif query.qtype == dnswire.TYPE_PTR:
        address = dnswire.reverse_ipv4(query.name) or dnswire.reverse_ipv6(query.name)
        target = table.reverse(networks, address) if address else None
        if target:
            return dnswire.build_reply(query, answers=[dnswire.ptr_record(target)], max_size=max_size)
    return None


@dataclass
class _Listener:
    """The two sockets in one container namespace and what they serve."""

    key: tuple[int, int]  # (st_dev, st_ino) of the namespace
    netns_path: str  # as given, for messages
    netns_fd: int  # the namespace itself, whatever the path names later
    endpoints: set[tuple[str, str]] = field(default_factory=set)  # (network id, endpoint id)
    networks: frozenset[str] = frozenset()  # replaced whole, read by the loop thread without a lock
    asking: frozenset[tuple[str, str]] = frozenset()  # the endpoints, likewise
    upstreams: list[str] | None = None  # the container's own --dns servers
    udp: asyncio.DatagramTransport | None = None
    udp_closed: asyncio.Future | None = None
    tcp: asyncio.AbstractServer | None = None
    conns: set[asyncio.StreamWriter] = field(default_factory=set)


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, dns: "EmbeddedDNS", listener: _Listener, closed: asyncio.Future):
        self.dns, self.listener, self.closed = dns, listener, closed
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.dns._spawn(self._reply(data, addr))

    async def _reply(self, data: bytes, addr) -> None:
        reply = await self.dns._answer(self.listener, data, tcp=False)
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)

    def error_received(self, exc):
        log.debug("embedded dns (udp) in %s: %s", self.listener.netns_path, exc)

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(None)


class EmbeddedDNS:
    """The daemon's one embedded resolver: listeners in container namespaces, served by one loop thread."""

    def __init__(self, table: NameTable, default_upstreams: Callable[[], list[str]], name: str = "berth-dns"):
        self.table = table
        self.default_upstreams = default_upstreams
        self.name = name
        self._lock = threading.Lock()
        self._loops = LoopThread(self.name)
        self._listeners: dict[tuple[int, int], _Listener] = {}
        self._by_endpoint: dict[tuple[str, str], tuple[int, int]] = {}
        self._tasks: set[asyncio.Task] = set()

    # -- public API (any thread) ---------------------------------------------

    def attach(self, network_id: str, endpoint_id: str, netns_path: str, upstreams: list[str] | None = None) -> None:
        """Serve the endpoint's container: answer on 127.0.0.11:53 in ``netns_path`` (one listener per namespace).

        A second endpoint of the same container (another network) shares the
        listener, which then resolves the names of both networks. Idempotent.
        Raises :class:`DriverError` when the sockets cannot be bound.
        """
        fd = open_namespace(netns_path)
        key = (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
        with self._lock:
            listener = self._listeners.get(key)
            if listener is None:
                listener = self._open(key, netns_path, fd, endpoint_id)  # takes ownership of fd
            else:
                os.close(fd)
            old = self._by_endpoint.get((network_id, endpoint_id))
            if old is not None and old != key:
                self._drop(network_id, endpoint_id)  # the endpoint moved to a new namespace (container restarted)
            listener.endpoints.add((network_id, endpoint_id))
            listener.networks = frozenset(n for n, _ in listener.endpoints)
            listener.asking = frozenset(listener.endpoints)
            if upstreams:
                listener.upstreams = list(upstreams)
            self._by_endpoint[(network_id, endpoint_id)] = key

    def detach(self, network_id: str, endpoint_id: str) -> None:
        """Stop serving the endpoint; close the namespace's sockets when it was the last one there. Idempotent."""
        with self._lock:
            self._drop(network_id, endpoint_id)

    def serves(self, network_id: str, endpoint_id: str) -> bool:
        """Whether the endpoint's container has a listener."""
        with self._lock:
            return (network_id, endpoint_id) in self._by_endpoint

    def listener_count(self) -> int:
        """How many namespaces have a listener (shown in ``berth info``)."""
        with self._lock:
            return len(self._listeners)

    def close(self) -> None:
        """Close every listener and stop the loop thread (daemon shutdown)."""
        with self._lock:
            for net_ep in list(self._by_endpoint):
                self._drop(*net_ep)

    # -- listeners -----------------------------------------------------------

    def _open(self, key: tuple[int, int], netns_path: str, fd: int, endpoint_id: str) -> _Listener:
        listener = _Listener(key, netns_path, fd)
        udp = tcp = None
        try:
            # Start the loop first: its thread must be born in the daemon's namespace (where
            # upstream queries go out), never in the container's this thread is about to enter.
            loop = self._loops.ensure()
            try:
                udp, tcp = _bind_in(_fd_path(fd))
            except OSError as exc:
                hint = ("the namespace's loopback interface must be up" if exc.errno == errno.EADDRNOTAVAIL
                        else "check that the container's network namespace still exists")
                raise DriverError(
                    f"embedded DNS for endpoint {endpoint_id[:12]}: cannot listen on {ADDRESS} in "
                    f"network namespace {netns_path}: {exc.strerror or exc}; {hint}"
                ) from exc
            dnsredirect.install(_fd_path(fd), ADDRESS, udp.getsockname()[1], tcp.getsockname()[1], netns_path)
            asyncio.run_coroutine_threadsafe(self._serve(listener, udp, tcp), loop).result()
        except BaseException:
            if listener.udp is not None:  # the loop already serves part of it
                asyncio.run_coroutine_threadsafe(self._unserve(listener), loop).result()
            for sock in (udp, tcp):
                if sock is not None:
                    sock.close()
            self._remove_redirect(listener)
            os.close(fd)
            self._stop_if_idle()
            raise
        self._listeners[key] = listener
        return listener

    @staticmethod
    def _remove_redirect(listener: _Listener) -> None:
        try:
            dnsredirect.remove(_fd_path(listener.netns_fd), listener.netns_path)
        except DriverError as exc:
            log.warning("%s", exc)

    def _drop(self, network_id: str, endpoint_id: str) -> None:
        key = self._by_endpoint.pop((network_id, endpoint_id), None)
        listener = self._listeners.get(key) if key is not None else None
        if listener is None:
            return
        listener.endpoints.discard((network_id, endpoint_id))
        listener.networks = frozenset(n for n, _ in listener.endpoints)
        listener.asking = frozenset(listener.endpoints)
        if not listener.endpoints:
            del self._listeners[key]
            if self._loops.loop is not None:
                asyncio.run_coroutine_threadsafe(self._unserve(listener), self._loops.loop).result()
            # A container that stays (network disconnect) gets "port unreachable" at once rather
            # than a DNAT into ports some later socket might take.
            self._remove_redirect(listener)
            os.close(listener.netns_fd)
            self._stop_if_idle()

    def _stop_if_idle(self) -> None:
        if self._listeners:
            return

        async def cancel_queries() -> None:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

        self._loops.stop(before=cancel_queries)

    # -- the loop thread -----------------------------------------------------

    async def _serve(self, listener: _Listener, udp: socket.socket, tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        listener.udp_closed = loop.create_future()
        closed = listener.udp_closed
        listener.udp, _ = await loop.create_datagram_endpoint(lambda: _UDPServer(self, listener, closed), sock=udp)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            listener.conns.add(writer)
            try:
                while True:
                    size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_SECONDS), "big")
                    data = await asyncio.wait_for(reader.readexactly(size), TCP_IDLE_SECONDS)
                    reply = await self._answer(listener, data, tcp=True)
                    if reply is None:
                        break
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, OSError):
                pass
            finally:
                listener.conns.discard(writer)
                writer.close()

        listener.tcp = await asyncio.start_server(handle, sock=tcp)

    async def _unserve(self, listener: _Listener) -> None:
        if listener.tcp is not None:
            listener.tcp.close()  # closes the listening socket at once
            for writer in list(listener.conns):
                writer.close()
        if listener.udp is not None:
            listener.udp.close()
            # The transport closes its socket one loop turn later; wait, so that on return
            # nothing listens any more and the namespace is no longer held.
            await listener.udp_closed

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, listener: _Listener, data: bytes, tcp: bool) -> bytes | None:
        try:
            query = dnswire.parse_query(data)
        except dnswire.DNSFormatError:
            return dnswire.error_for_unparsable(data)
        if query.opcode != dnswire.OPCODE_QUERY:
            return dnswire.build_reply(query, dnswire.NOTIMP)
        networks = listener.networks
        reply = local_answer(self.table, networks, query, None if tcp else dnswire.MAX_UDP, listener.asking)
        if reply is not None:
            return reply
        servers = listener.upstreams or self.default_upstreams()
        if not servers or not self.table.may_forward(networks) or len(self._tasks) > MAX_INFLIGHT:
            return dnswire.build_reply(query, dnswire.SERVFAIL)
        relayed = await forward(data, servers, tcp)
        return relayed if relayed is not None else dnswire.build_reply(query, dnswire.SERVFAIL)


def open_namespace(netns_path: str) -> int:
    """An O_RDONLY descriptor of the namespace at ``netns_path``. Raises DriverError."""
    try:
        return os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise DriverError(f"embedded DNS: network namespace {netns_path} cannot be opened: {exc.strerror}") from exc


def namespace_key(netns_path: str) -> tuple[int, int]:
    """Identify a network namespace by its nsfs inode (two paths may name the same namespace)."""
    fd = open_namespace(netns_path)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return st.st_dev, st.st_ino


def _fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def _bind_in(netns_path: str) -> tuple[socket.socket, socket.socket]:
    """Create the UDP and listening TCP sockets on 127.0.0.11, random ports, inside ``netns_path``."""
    udp = tcp = None
    try:
        with entered(netns_path):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((ADDRESS, 0))
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.bind((ADDRESS, 0))
            tcp.listen(64)
    except BaseException:
        for s in (udp, tcp):
            if s is not None:
                s.close()
        raise
    udp.setblocking(False)
    tcp.setblocking(False)
    return udp, tcp
