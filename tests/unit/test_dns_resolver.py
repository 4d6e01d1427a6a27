"""Answering and forwarding of the embedded resolver, without namespaces (loopback only)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import struct
import threading

import pytest

from berth.errors import InvalidArgument
from berth.plugins.netdrivers import dns, dnsredirect, dnswire
from berth.plugins.netdrivers.dnsnames import NameTable


def query(name: str, qtype: int = 1, qid: int = 0x4242) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)


def header(reply: bytes) -> tuple[int, int, int]:
    qid, flags, _, an = struct.unpack_from("!HHHH", reply)
    return qid, flags & 0xF, an


@pytest.fixture
def table() -> NameTable:
    t = NameTable()
    t.set_network("n", "net", internal=False)
    t.set_network("sealed", "sealed", internal=True)
    t.set_endpoint("n", "e", "10.1.0.2", ["web"])
    return t


def answer(table, nets, data, upstreams=(), tcp=False) -> bytes | None:
    resolver = dns.EmbeddedDNS(table, lambda: list(upstreams))
    listener = dns._Listener((0, 0), "test", -1, networks=frozenset(nets))
    return asyncio.run(resolver._answer(listener, data, tcp=tcp))


def test_known_name_gets_a_records(table):
    reply = answer(table, {"n"}, query("web"))
    assert header(reply) == (0x4242, 0, 1) and reply.endswith(bytes([10, 1, 0, 2]))


def test_known_name_without_ipv6_gets_an_empty_noerror_for_aaaa(table):
    assert header(answer(table, {"n"}, query("web", qtype=28))) == (0x4242, 0, 0)


def test_known_name_with_ipv6_gets_aaaa_records_and_its_reverse_name(table):
    table.set_endpoint("n", "e6", "10.1.0.3", ["six"], address6="fd00::3")
    reply = answer(table, {"n"}, query("six", qtype=28))
    assert header(reply) == (0x4242, 0, 1) and reply.endswith(ipaddress.IPv6Address("fd00::3").packed)
    reverse = ".".join(reversed(ipaddress.IPv6Address("fd00::3").exploded.replace(":", ""))) + ".ip6.arpa"
    reply = answer(table, {"n"}, query(reverse, qtype=12))
    assert header(reply)[2] == 1 and reply.endswith(b"\x03six\x03net\x00")


def test_ptr_of_a_network_address_is_answered(table):
    reply = answer(table, {"n"}, query("2.0.1.10.in-addr.arpa", qtype=12))
    assert header(reply)[2] == 1 and reply.endswith(b"\x03web\x03net\x00")


def test_unknown_name_without_upstream_is_servfail(table):
    assert header(answer(table, {"n"}, query("example.org"))) == (0x4242, dnswire.SERVFAIL, 0)


def test_non_query_opcode_is_notimp(table):
    data = bytearray(query("web"))
    data[2] |= 0x20  # opcode 4 (NOTIFY)
    assert header(answer(table, {"n"}, bytes(data)))[1] == dnswire.NOTIMP


class LoopbackUpstream:
    """A UDP+TCP DNS server on 127.0.0.1 that answers every query with one fixed A record."""

    def __init__(self):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(1)
        self.threads = [threading.Thread(target=self._udp, daemon=True), threading.Thread(target=self._tcp, daemon=True)]
        for t in self.threads:
            t.start()

    @staticmethod
    def reply(data: bytes) -> bytes:
        return (data[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + data[12:]
                + struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + bytes([192, 0, 2, 9]))

    def _udp(self):
        data, addr = self.udp.recvfrom(4096)
        if data:  # empty: woken by close() without a query
            self.udp.sendto(self.reply(data), addr)

    def _tcp(self):
        try:
            conn, _ = self.tcp.accept()
        except OSError:  # woken by close() without a connection
            return
        size = struct.unpack("!H", conn.recv(2, socket.MSG_WAITALL))[0]
        out = self.reply(conn.recv(size, socket.MSG_WAITALL))
        conn.sendall(struct.pack("!H", len(out)) + out)
        conn.close()

    def close(self):
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join()
        self.udp.close()
        self.tcp.close()


@pytest.fixture
def loopback_upstream(monkeypatch):
    server = LoopbackUpstream()
    monkeypatch.setattr(dns, "UPSTREAM_PORT", server.port)
    yield server
    server.close()


@pytest.mark.parametrize("tcp", [False, True])
def test_forward_relays_the_upstream_reply(loopback_upstream, tcp):
    data = query("example.org")
    reply = asyncio.run(dns.forward(data, ["127.0.0.1"], tcp))
    assert header(reply) == (0x4242, 0, 1) and reply.endswith(bytes([192, 0, 2, 9]))


def test_forward_skips_a_refusing_server(loopback_upstream):
    # 127.0.0.2 has nothing on the port: the connected socket sees ICMP "port unreachable" at once.
    reply = asyncio.run(dns.forward(query("example.org"), ["127.0.0.2", "127.0.0.1"], tcp=False))
    assert reply is not None and header(reply)[2] == 1


def test_forward_with_no_server_answering_is_none(monkeypatch):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    monkeypatch.setattr(dns, "UPSTREAM_PORT", probe.getsockname()[1])
    probe.close()  # the port is now free: nothing answers there
    assert asyncio.run(dns.forward(query("example.org"), ["127.0.0.1"], tcp=False)) is None


def test_internal_only_networks_are_not_forwarded(table, loopback_upstream):
    assert header(answer(table, {"sealed"}, query("example.org"), upstreams=["127.0.0.1"]))[1] == dnswire.SERVFAIL
    assert header(answer(table, {"n"}, query("example.org"), upstreams=["127.0.0.1"]))[2] == 1


def test_host_nameservers_skip_loopback(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\nnameserver ::1\nnameserver 192.0.2.1\n# x\nnameserver fe80::1%eth0\nnameserver bogus\n")
    assert dns.host_nameservers(str(conf)) == ["192.0.2.1", "fe80::1"]


def test_default_upstreams_prefer_configured_and_reread_the_host_file(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 192.0.2.1\n")
    assert dns.DefaultUpstreams(["198.51.100.1"], str(conf))() == ["198.51.100.1"]
    ups = dns.DefaultUpstreams(None, str(conf))
    assert ups() == ["192.0.2.1"]
    conf.write_text("nameserver 192.0.2.2\nnameserver 192.0.2.3\n")
    assert ups() == ["192.0.2.2", "192.0.2.3"]


def test_invalid_dns_server_is_an_actionable_error():
    with pytest.raises(InvalidArgument, match="'dns.example' is not an IP address"):
        dns.validate_servers(["dns.example"], "daemon option dns")


def test_redirect_rules_send_port_53_to_the_resolver_ports():
    script = dnsredirect.render("127.0.0.11", 40001, 40002)
    assert "ip daddr 127.0.0.11 udp dport 53 dnat to 127.0.0.11:40001" in script
    assert "ip daddr 127.0.0.11 tcp dport 53 dnat to 127.0.0.11:40002" in script
    assert script.startswith("table ip berth_dns\ndelete table ip berth_dns\n")


def test_a_shared_alias_is_answered_with_every_address_in_changing_order(table):
    for n, address in enumerate(("10.1.0.3", "10.1.0.4")):
        table.set_endpoint("n", f"replica{n}", address, ["svc"])
    table.set_endpoint("n", "e", "10.1.0.2", ["web", "svc"])
    orders = set()
    for _ in range(40):
        reply = answer(table, {"n"}, query("svc"))
        assert header(reply)[2] == 3
        orders.add(reply[-4:])  # the address of the last answer record
    assert len(orders) > 1  # Docker's round robin: clients that take the first answer spread over replicas
