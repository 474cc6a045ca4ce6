"""The query fast path: read a plain query without dnspython, and encode answers once for the cache.

Almost every query a server sees has one shape: a header with QR=0,
opcode QUERY, one question with an uncompressed name, nothing in the
answer and authority sections, at most an OPT record (RFC 6891 §6.1.1).
:func:`parse` reads that shape in a few microseconds and returns the
cache :data:`Key`; anything else goes to dnspython (the slow path) and
gets FORMERR, NOTIMP, BADVERS, NOTAUTH or a transfer.

The answer to a query depends only on its key: the lower-cased question
name (RFC 4343: the case does not select data), type, class, the RD and CD
bits the response copies (RFC 1035 §4.1.1, RFC 4035 §3.1.6), and whether
EDNS was used and with the DO bit (RFC 3225 §3, copied). The client's UDP
payload size only decides between the full answer and the truncated one,
so both are encoded once (:class:`Encoded`) and the limit is applied per
query; EDNS options are ignored (RFC 6891 §6.1.2: unknown options are
ignored; we implement none), so they are not part of the key.

Answers are encoded here, not by dnspython (whose renderer costs some
300 µs an answer): record sets keep their RDATA in wire form, and owner
names are written as compression pointers into the question name when
they are it or share a suffix with it (the zone's apex in the SOA of a
negative answer; RFC 1035 §4.1.4); RDATA is never compressed (RFC 3597
§4 allows that for every type). The question is therefore the only place
a name's case appears, so copying a query's ID and question-name bytes
over a cached answer yields exactly the answer encoded for that query
itself, the client's case included (DNS 0x20 resolvers check it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from dmarcpilot.dnsserver.authority import Authority, Labels, Owned, Resolution

UDP_MINIMUM = 512  # without EDNS, and the floor of any advertised size (RFC 1035 §4.2.1, RFC 6891 §6.2.5)
OUR_PAYLOAD = 1232  # what we advertise and the most we send over UDP (no fragmentation: DNS flag day 2020)
TCP_MAXIMUM = 65535  # RFC 7766 §8: a two-octet length

RD_CD = int(dns.flags.RD | dns.flags.CD)
EDNS_NONE, EDNS_PLAIN, EDNS_DO = 0, 1, 2

#: (question name in lower-case wire form, qtype, qclass, RD|CD bits of the query, EDNS_NONE/PLAIN/DO)
Key = tuple[bytes, int, int, int, int]

_HEADER = struct.Struct("!HHHHHH")
_QUESTION_TAIL = struct.Struct("!HH")
_OPT = struct.Struct("!HHBBHH")  # type, payload size, extended rcode, version, flags, rdlength
_OPTION_LENGTH = struct.Struct("!H")
_SLOW_TYPES = frozenset({dns.rdatatype.OPT, dns.rdatatype.TKEY, dns.rdatatype.TSIG,
                         dns.rdatatype.IXFR, dns.rdatatype.AXFR})
_META_TYPES = frozenset({dns.rdatatype.OPT, dns.rdatatype.TSIG, dns.rdatatype.TKEY})  # RFC 6895 §3.1
_OBSOLETE_TYPES = frozenset({dns.rdatatype.MAILA, dns.rdatatype.MAILB})  # RFC 2505 §6 / RFC 1035 §3.2.3


def parse(wire: bytes) -> tuple[Key, int, int] | None:
    """``(key, end of the question name, UDP limit)`` for a plain query, ``None`` for the slow path."""
    try:
        _id, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
        if flags & 0xF800 or qdcount != 1 or ancount or nscount or arcount > 1:  # QR=0, opcode QUERY
            return None
        end = 12
        length = wire[12]
        while length:
            if length > 63:  # compression pointers and extended label types: not in a plain question
                return None
            end += length + 1
            length = wire[end]
        end += 1
        if end > 12 + 255:  # RFC 1035 §3.1: 255 octets at most
            return None
        qtype, qclass = _QUESTION_TAIL.unpack_from(wire, end)
        if qtype in _SLOW_TYPES:
            return None
        if arcount == 0:
            if end + 4 != len(wire):
                return None
            return (wire[12:end].lower(), qtype, qclass, flags & RD_CD, EDNS_NONE), end, UDP_MINIMUM
        return _with_opt(wire, end, end + 4, qtype, qclass, flags)
    except (IndexError, struct.error):
        return None


def _with_opt(wire: bytes, end: int, at: int, qtype: int, qclass: int, flags: int) -> tuple[Key, int, int] | None:
    if wire[at] != 0:  # the OPT owner is the root (RFC 6891 §6.1.2)
        return None
    rrtype, payload, _ext, version, eflags, rdlength = _OPT.unpack_from(wire, at + 1)
    start = at + 11
    if rrtype != dns.rdatatype.OPT or version != 0 or start + rdlength != len(wire):
        return None  # another record, EDNS version > 0 (BADVERS, RFC 6891 §6.1.3), or junk: the slow path
    position = start
    while position < len(wire):  # options must fill the RDATA exactly
        position += 4 + _OPTION_LENGTH.unpack_from(wire, position + 2)[0]
    if position != len(wire):
        return None
    limit = UDP_MINIMUM if payload < UDP_MINIMUM else min(payload, OUR_PAYLOAD)
    mode = EDNS_DO if eflags & dns.flags.DO else EDNS_PLAIN
    return (wire[12:end].lower(), qtype, qclass, flags & RD_CD, mode), end, limit


def key_of(query: dns.message.Message) -> tuple[Key, bytes]:
    """The cache key of a query dnspython parsed, and its question name as the client wrote it."""
    question = query.question[0]
    name = question.name.to_wire()
    assert name is not None  # no file given: the bytes are returned
    mode = EDNS_NONE if query.edns < 0 else EDNS_DO if query.ednsflags & dns.flags.DO else EDNS_PLAIN
    return (name.lower(), int(question.rdtype), int(question.rdclass), int(query.flags) & RD_CD, mode), name


def udp_limit(query: dns.message.Message) -> int:
    return UDP_MINIMUM if query.edns < 0 else max(UDP_MINIMUM, min(query.payload, OUR_PAYLOAD))


@dataclass(frozen=True, slots=True)
class Encoded:
    """An answer in wire form (ID 0), whole and truncated for UDP."""

    full: bytes
    truncated: bytes  # TC=1, the question and the OPT alone (RFC 2181 §9, RFC 7766 §5)
    rcode: int
    qtype: int


def wire_labels(wire: bytes) -> Labels:
    """The labels of an uncompressed name in wire form (as :func:`parse` checked it)."""
    labels = []
    position, length = 0, wire[0]
    while length:
        labels.append(wire[position + 1:position + 1 + length])
        position += length + 1
        length = wire[position]
    return tuple(labels)


def resolve(authority: Authority, key: Key) -> Resolution:
    """What the zones say about the question of ``key`` (meta and obsolete types aside)."""
    if key[1] in _META_TYPES:
        return Resolution(dns.rcode.FORMERR, False)
    if key[1] in _OBSOLETE_TYPES:
        return Resolution(dns.rcode.NOTIMP, False)
    return authority.lookup(wire_labels(key[0]), key[1], key[2])


def encode(authority: Authority, key: Key, qname: bytes | None = None) -> Encoded:
    """The answer to every query with ``key``: a function of the key and the zones only.

    ``qname`` is the question name as the client wrote it (the key's lower-case
    form by default); owner names at or below it are compression pointers into
    it (RFC 1035 §4.1.4), so the question alone carries the client's case.
    """
    resolution = resolve(authority, key)
    question = (qname or key[0]) + _QUESTION_TAIL.pack(key[1], key[2])
    flags = 0x8000 | key[3] | (0x0400 if resolution.authoritative else 0) | (int(resolution.rcode) & 0xF)
    suffixes = _suffix_offsets(wire_labels(key[0]))
    body = bytearray()
    counts = [_records(body, section, suffixes) for section in
              (resolution.answer, resolution.authority, resolution.additional)]
    opt = b"" if key[4] == EDNS_NONE else _OPT_RR_DO if key[4] == EDNS_DO else _OPT_RR  # RFC 6891 §6.1.1, RFC 3225 §3
    extra = 1 if opt else 0
    truncated = _HEADER.pack(0, flags | dns.flags.TC, 1, 0, 0, extra) + question + opt
    full = _HEADER.pack(0, flags, 1, counts[0], counts[1], counts[2] + extra) + question + bytes(body) + opt
    if len(full) > TCP_MAXIMUM:  # cannot be sent even over TCP (never with the zones we build)
        full = truncated
    return Encoded(full, truncated, int(resolution.rcode), key[1])


_RR = struct.Struct("!HHIH")  # type, class, TTL, RDLENGTH
_OPT_RR = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, OUR_PAYLOAD, 0, 0)
_OPT_RR_DO = b"\x00" + struct.pack("!HHIH", dns.rdatatype.OPT, OUR_PAYLOAD, dns.flags.DO, 0)


def _suffix_offsets(labels: Labels) -> dict[Labels, int]:
    """Where each suffix of the question name starts in the message (the question is at offset 12)."""
    offsets, position = {}, 12
    for index, label in enumerate(labels):
        offsets[labels[index:]] = position
        position += len(label) + 1
    return offsets


def _owner(labels: Labels, suffixes: dict[Labels, int]) -> bytes:
    """``labels`` in wire form, ending with a pointer to the question name when it shares a suffix with it."""
    for index in range(len(labels)):
        offset = suffixes.get(labels[index:])
        if offset is not None:
            head = b"".join(bytes((len(label),)) + label for label in labels[:index])
            return head + (0xC000 | offset).to_bytes(2, "big")
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def _records(body: bytearray, section: tuple[Owned, ...], suffixes: dict[Labels, int]) -> int:
    count = 0
    for owner, records in section:
        name = _owner(owner, suffixes)
        for rdata in records.rdatas:
            body += name + _RR.pack(records.rdtype, dns.rdataclass.IN, records.ttl, len(rdata)) + rdata
            count += 1
    return count


def fill(message: dns.message.Message, resolution: Resolution) -> None:
    """Put ``resolution`` in a dnspython ``message``: rcode, AA (set only when authoritative; RA never), sections."""
    message.flags &= ~(dns.flags.AA | dns.flags.RA)
    if resolution.authoritative:
        message.flags |= dns.flags.AA  # RFC 1035 §4.1.1
    message.set_rcode(resolution.rcode)
    message.answer = Resolution.rrsets(resolution.answer)
    message.authority = Resolution.rrsets(resolution.authority)
    message.additional = Resolution.rrsets(resolution.additional)


def header_only(wire: bytes, rcode: dns.rcode.Rcode) -> bytes:
    """A reply to a query too broken for dnspython: its ID, opcode and RD, ``rcode``, no sections (RFC 1035 §4.1.1)."""
    flags = int.from_bytes(wire[2:4], "big")
    reply = dns.flags.QR | (flags & (0x7800 | dns.flags.RD)) | (int(rcode) & 0xF)
    return wire[:2] + reply.to_bytes(2, "big") + bytes(8)
