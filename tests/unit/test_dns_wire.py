"""The embedded resolver's DNS codec: queries in, replies out (RFC 1035 wire format)."""

from __future__ import annotations

import struct

import pytest

from berth.plugins.netdrivers import dnswire


def query(name: str, qtype: int = 1, qid: int = 0xBEEF, flags: int = 0x0100, qdcount: int = 1) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p) + b"\0"
    return struct.pack("!HHHHHH", qid, flags, qdcount, 0, 0, 0) + labels + struct.pack("!HH", qtype, 1)


def test_parse_query_reads_id_name_and_type():
    q = dnswire.parse_query(query("Web.Example", qtype=28))
    assert (q.id, q.name, q.qtype, q.qclass, q.opcode) == (0xBEEF, "Web.Example", 28, 1, 0)


@pytest.mark.parametrize("data, why", [
    (b"\x00" * 5, "shorter"),
    (query("a", flags=0x8100), "response"),
    (query("a", qdcount=2), "2 questions"),
    (query("a")[:-2], "past the end"),
])
def test_parse_query_rejects_what_it_cannot_answer(data, why):
    with pytest.raises(dnswire.DNSFormatError, match=why):
        dnswire.parse_query(data)


def test_compression_pointer_loop_is_rejected():
    data = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    with pytest.raises(dnswire.DNSFormatError, match="loop"):
        dnswire.parse_query(data)


def test_read_name_follows_pointers_and_returns_offset_after_pointer():
    data = b"\x03web\x00" + b"\x03api\xc0\x00"
    assert dnswire.read_name(data, 5) == ("api.web", 11)


def test_a_reply_echoes_question_and_points_answer_at_it():
    q = dnswire.parse_query(query("db"))
    reply = dnswire.build_reply(q, answers=[dnswire.a_record("10.0.0.7")])
    qid, flags, qd, an, ns, ar = struct.unpack_from("!HHHHHH", reply)
    assert (qid, qd, an, ns, ar) == (0xBEEF, 1, 1, 0, 0)
    assert flags & 0x8000 and flags & 0x0100 and flags & 0x0080 and flags & 0xF == 0  # QR, RD copied, RA, NOERROR
    assert reply[12:12 + len(q.question)] == q.question
    assert reply[-16:] == struct.pack("!HHHIH", 0xC00C, 1, 1, 600, 4) + bytes([10, 0, 0, 7])


def test_error_reply_carries_rcode_and_no_answers():
    q = dnswire.parse_query(query("x"))
    reply = dnswire.build_reply(q, dnswire.SERVFAIL)
    _, flags, _, an, _, _ = struct.unpack_from("!HHHHHH", reply)
    assert flags & 0xF == dnswire.SERVFAIL and an == 0


def test_udp_reply_too_big_is_truncated_with_tc():
    q = dnswire.parse_query(query("pool"))
    answers = [dnswire.a_record(f"10.0.{i // 256}.{i % 256}") for i in range(100)]  # 16 bytes each
    reply = dnswire.build_reply(q, answers=answers, max_size=dnswire.MAX_UDP)
    _, flags, _, an, _, _ = struct.unpack_from("!HHHHHH", reply)
    assert len(reply) <= 512 and flags & dnswire.FLAG_TC and 0 < an < 100
    full = dnswire.build_reply(q, answers=answers)
    assert struct.unpack_from("!HHHHHH", full)[3] == 100 and not struct.unpack_from("!H", full, 2)[0] & dnswire.FLAG_TC


def test_unparsable_query_gets_formerr_but_responses_get_nothing():
    bad = struct.pack("!HHHHHH", 7, 0x0100, 0, 0, 0, 0)
    reply = dnswire.error_for_unparsable(bad)
    assert struct.unpack_from("!HH", reply) == (7, 0x8180 | dnswire.FORMERR)
    assert dnswire.error_for_unparsable(struct.pack("!HHHHHH", 7, 0x8000, 0, 0, 0, 0)) is None
    assert dnswire.error_for_unparsable(b"\x00\x01") is None


def test_ptr_record_and_reverse_names():
    assert dnswire.reverse_ipv4("3.0.201.10.in-addr.arpa.") == "10.201.0.3"
    assert dnswire.reverse_ipv4("3.0.201.in-addr.arpa") is None
    assert dnswire.reverse_ipv4("300.0.201.10.in-addr.arpa") is None
    assert dnswire.ptr_record("db.net").rdata == b"\x02db\x03net\x00"


def test_encode_name_refuses_overlong_labels():
    with pytest.raises(ValueError, match="1 to 63"):
        dnswire.encode_name("a" * 64 + ".net")
