"""The small part of the DNS wire format (RFC 1035) the embedded resolver needs.

Parse a query's header and single question; build a reply that echoes the question
and carries A, AAAA or PTR answers, or only an error code. Pure functions, no I/O.
Anything the resolver does not answer itself is relayed to an upstream server as the
raw bytes it arrived as, so nothing else of the format is needed here.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount

TYPE_A = 1
TYPE_PTR = 12
TYPE_AAAA = 28
CLASS_IN = 1

OPCODE_QUERY = 0

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080

MAX_UDP = 512  # a reply to a query without EDNS must fit in this, else it is truncated (TC)
_MAX_POINTERS = 64  # more compression jumps than this is a loop in a hostile message


class DNSFormatError(ValueError):
    """The message is not a DNS query this resolver can read."""


@dataclass(frozen=True)
class Query:
    """A parsed query: the header fields the reply needs and its one question."""

    id: int
    flags: int
    name: str  # as asked, without the trailing dot; compare with :func:`normalise`
    qtype: int
    qclass: int
    question: bytes  # the question section's raw bytes, echoed in replies

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


@dataclass(frozen=True)
class Answer:
    """One resource record of an answer section."""

    rtype: int
    rdata: bytes
    ttl: int = 600  # Docker's embedded DNS answers with a 600 s TTL


def normalise(name: str) -> str:
    """DNS names compare case-insensitively and with or without the root's dot."""
    return name.rstrip(".").lower()


def read_name(data: bytes, offset: int) -> tuple[str, int]:
    """Decode the name at ``offset``; return it (dotted, no trailing dot) and the offset after it.

    Follows compression pointers; a pointer loop or a name running off the end of
    the message is a :class:`DNSFormatError`.
    """
    labels: list[str] = []
    end = None
    jumps = 0
    total = 0
    while True:
        if offset >= len(data):
            raise DNSFormatError("name runs past the end of the message")
        length = data[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DNSFormatError("truncated compression pointer")
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise DNSFormatError("compression pointer loop")
            offset = ((length & 0x3F) << 8) | data[offset + 1]
            continue
        if length & 0xC0:
            raise DNSFormatError(f"unsupported label type 0x{length:02x}")
        offset += 1
        if length == 0:
            break
        label = data[offset:offset + length]
        if len(label) != length:
            raise DNSFormatError("label runs past the end of the message")
        total += length + 1
        if total > 255:
            raise DNSFormatError("name longer than 255 bytes")
        labels.append(label.decode("ascii", errors="replace"))
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def encode_name(name: str) -> bytes:
    """Encode a dotted name as uncompressed labels (an empty name or "." is the root)."""
    out = bytearray()
    for label in name.rstrip(".").split(".") if name.rstrip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"invalid DNS label {label!r} in {name!r}: 1 to 63 characters")
        out.append(len(raw))
        out += raw
    out.append(0)
    if len(out) > 255:
        raise ValueError(f"DNS name {name!r} is longer than 255 bytes")
    return bytes(out)


def parse_query(data: bytes) -> Query:
    """Parse ``data`` as a query with exactly one question.

    Raises :class:`DNSFormatError` for anything else (a reply, no question, several
    questions, a truncated message).
    """
    if len(data) < HEADER.size:
        raise DNSFormatError("shorter than a DNS header")
    qid, flags, qdcount, _an, _ns, _ar = HEADER.unpack_from(data)
    if flags & FLAG_QR:
        raise DNSFormatError("message is a response, not a query")
    if qdcount != 1:
        raise DNSFormatError(f"{qdcount} questions; exactly one is supported")
    name, offset = read_name(data, HEADER.size)
    if offset + 4 > len(data):
        raise DNSFormatError("question runs past the end of the message")
    qtype, qclass = struct.unpack_from("!HH", data, offset)
    return Query(qid, flags, name, qtype, qclass, bytes(data[HEADER.size:offset + 4]))


def build_reply(query: Query, rcode: int = NOERROR, answers: list[Answer] | tuple = (),
                max_size: int | None = None, authoritative: bool = False) -> bytes:
    """A reply to ``query``: its question echoed, ``answers`` owning the question's name.

    With ``max_size`` (UDP), answers that do not fit are dropped and TC is set, so
    the client retries over TCP, as RFC 1035 says.
    """
    flags = FLAG_QR | (query.flags & (0xF << 11)) | (query.flags & FLAG_RD) | FLAG_RA | (rcode & 0xF)
    if authoritative:
        flags |= FLAG_AA
    records = [
        # 0xC00C points at the question's name, which always starts right after the header.
        struct.pack("!HHHIH", 0xC00C, a.rtype, CLASS_IN, a.ttl, len(a.rdata)) + a.rdata
        for a in answers
    ]
    body = query.question
    kept = records
    if max_size is not None:
        room = max_size - HEADER.size - len(body)
        kept = []
        for rec in records:
            if len(rec) > room:
                flags |= FLAG_TC
                break
            kept.append(rec)
            room -= len(rec)
    return HEADER.pack(query.id, flags, 1, len(kept), 0, 0) + body + b"".join(kept)


def error_for_unparsable(data: bytes, rcode: int = FORMERR) -> bytes | None:
    """A bare error reply (header only) for a message :func:`parse_query` rejected, or None.

    Responses and messages too short to carry an id are dropped, never answered:
    answering a response could start a reply loop between two resolvers.
    """
    if len(data) < HEADER.size:
        return None
    qid, flags = struct.unpack_from("!HH", data)
    if flags & FLAG_QR:
        return None
    reply_flags = FLAG_QR | (flags & (0xF << 11)) | (flags & FLAG_RD) | FLAG_RA | (rcode & 0xF)
    return HEADER.pack(qid, reply_flags, 0, 0, 0, 0)


def a_record(address: str) -> Answer:
    """An A record for the IPv4 ``address``."""
    return Answer(TYPE_A, ipaddress.IPv4Address(address).packed)


def address_record(address: str) -> Answer:
    """An A record for an IPv4 ``address``, an AAAA record for an IPv6 one."""
    parsed = ipaddress.ip_address(address)
    return Answer(TYPE_A if parsed.version == 4 else TYPE_AAAA, parsed.packed)


def ptr_record(target: str) -> Answer:
    """A PTR record pointing at ``target`` (a dotted name)."""
    return Answer(TYPE_PTR, encode_name(target))


def reverse_ipv4(name: str) -> str | None:
    """The IPv4 address a ``d.c.b.a.in-addr.arpa`` name stands for, or None for any other name."""
    parts = normalise(name).split(".")
    if len(parts) != 6 or parts[4:] != ["in-addr", "arpa"]:
        return None
    try:
        return str(ipaddress.IPv4Address(".".join(reversed(parts[:4]))))
    except ValueError:
        return None


def reverse_ipv6(name: str) -> str | None:
    """The IPv6 address a nibble-reversed ``...ip6.arpa`` name stands for, or None for any other name."""
    parts = normalise(name).split(".")
    if len(parts) != 34 or parts[32:] != ["ip6", "arpa"] or not all(len(p) == 1 for p in parts[:32]):
        return None
    try:
        return str(ipaddress.IPv6Address(int("".join(reversed(parts[:32])), 16)))
    except ValueError:
        return None


def response_id(data: bytes) -> int | None:
    """The id of a reply (to match it with the query it answers), or None if ``data`` is no reply."""
    if len(data) < HEADER.size:
        return None
    qid, flags = struct.unpack_from("!HH", data)
    return qid if flags & FLAG_QR else None
