"""The responder on wire bytes: the cache, case and ID patching, EDNS and truncation, errors as rcodes."""

from __future__ import annotations

import struct

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from dmarcpilot.dnsserver.authority import Authority, Resolution, Zone
from dmarcpilot.dnsserver.metrics import Event
from dmarcpilot.dnsserver.responder import Responder
from dmarcpilot.dnsserver.transfer import TransferPolicy
from dmarcpilot.dnsserver.wire import parse
from dmarcpilot.policy.zone import ZoneRecord as R

HZ = "_dmarcpilot.example.edu"
LONG = "v=DKIM1; k=rsa; p=" + "A" * 1400  # > 1232 octets: truncated over UDP whatever the client's size
MEDIUM = "v=DKIM1; k=rsa; p=" + "B" * 700  # > 512, < 1232: truncated only without EDNS or with a small size
RECORDS = [
    R(HZ, "SOA", "ns1.dp.example. hostmaster.example.edu. 2024010101 3600 600 1209600 300"),
    R(HZ, "NS", "ns1.dp.example."), R(HZ, "NS", "ns2.dp.example."),
    R(f"*.100.51.198.in-addr._spf.{HZ}", "A", "127.0.0.2"),
    R(f"5.113.0.203.in-addr._spf.{HZ}", "A", "127.0.0.2"),
    R(f"_dmarc.{HZ}", "TXT", "v=DMARC1; p=none"),
    R(f"big._domainkey.{HZ}", "TXT", LONG),
    R(f"medium._domainkey.{HZ}", "TXT", MEDIUM),
]


@pytest.fixture
def responder() -> Responder:
    return Responder(Authority.of([Zone.from_records(HZ, RECORDS)]))


def ask(responder: Responder, query: dns.message.Message | bytes, tcp: bool = False,
        peer: str = "127.0.0.1") -> dns.message.Message:
    wire = query if isinstance(query, bytes) else query.to_wire()
    replies = responder.answer(wire, peer, tcp)
    assert len(replies) == 1, replies
    return dns.message.from_wire(replies[0])


def dnspython_answer(query: dns.message.Message, zone: Zone) -> dns.message.Message:
    """The answer dnspython builds for this query from the same lookup: an independent encoder."""
    response = dns.message.make_response(query, our_payload=1232, pad=0)
    question = query.question[0]
    resolution = Authority.of([zone]).resolve(question.name, question.rdtype, question.rdclass)
    response.flags |= dns.flags.AA
    response.set_rcode(resolution.rcode)
    response.answer = Resolution.rrsets(resolution.answer)
    response.authority = Resolution.rrsets(resolution.authority)
    return dns.message.from_wire(response.to_wire(max_size=65535))


@pytest.mark.parametrize(("name", "rdtype"), [
    ("9.100.51.198.In-Addr._SPF._dmarcpilot.Example.EDU.", "A"),  # wildcard synthesis
    ("_DMARC._dmarcpilot.example.edu.", "TXT"),  # exact
    ("NoPe._dmarcpilot.EXAMPLE.edu.", "TXT"),  # NXDOMAIN, the SOA owner compressed into the question
    ("_SPF._dmarcpilot.example.EDU.", "A"),  # NODATA at an empty non-terminal
    ("big._domainkey._dmarcpilot.example.edu.", "TXT"),  # several strings
])
def test_cached_answers_are_byte_identical_to_uncached_ones(name: str, rdtype: str) -> None:
    zone = Zone.from_records(HZ, RECORDS)
    warm = Responder(Authority.of([zone]))
    for edns in (0, -1):  # fill the cache from lower-case queries
        warm.answer(dns.message.make_query(name.lower(), rdtype, use_edns=edns).to_wire(), "127.0.0.1", False)
    for query in (dns.message.make_query(name, rdtype, use_edns=0), dns.message.make_query(name, rdtype)):
        query.id = 0xBEEF
        cold = Responder(Authority.of([zone]))  # an empty cache: encoded for this very query
        reply = warm.answer(query.to_wire(), "127.0.0.1", True)[0]
        assert reply == cold.answer(query.to_wire(), "127.0.0.1", True)[0]
        assert reply[:2] == b"\xbe\xef"
        parsed = dns.message.from_wire(reply)
        assert parsed.question[0].name.to_text() == name  # the client's case (0x20)
        expected = dnspython_answer(query, zone)
        assert (parsed.flags, parsed.rcode(), parsed.edns, parsed.payload) == \
            (expected.flags, expected.rcode(), expected.edns, expected.payload)
        assert (parsed.answer, parsed.authority) == (expected.answer, expected.authority)
        assert [r.name.to_text() for r in parsed.answer] == [name] * len(parsed.answer)  # owner in the client's case
    assert warm.metrics.total() == 4 and len(warm._cache) == 2  # with and without EDNS: hits only after


def test_answer_owner_takes_the_question_case(responder: Responder) -> None:
    reply = ask(responder, dns.message.make_query("7.100.51.198.IN-ADDR._spf._dmarcpilot.example.edu", "A"))
    assert reply.answer[0].name.to_text() == "7.100.51.198.IN-ADDR._spf._dmarcpilot.example.edu."
    assert reply.flags & dns.flags.AA and not reply.flags & dns.flags.RA
    assert [rd.to_text() for rd in reply.answer[0]] == ["127.0.0.2"]


def test_rd_and_cd_are_copied_and_make_distinct_entries(responder: Responder) -> None:
    plain = dns.message.make_query(f"_dmarc.{HZ}", "TXT")
    plain.flags = dns.flags.Flag(0)
    checking = dns.message.make_query(f"_dmarc.{HZ}", "TXT")
    checking.flags = dns.flags.RD | dns.flags.CD
    assert not ask(responder, plain).flags & (dns.flags.RD | dns.flags.CD)
    flags = ask(responder, checking).flags
    assert flags & dns.flags.RD and flags & dns.flags.CD and not flags & dns.flags.RA  # RFC 4035 §3.1.6


def test_edns_echo_do_bit_and_sizes(responder: Responder) -> None:
    without = ask(responder, dns.message.make_query(f"_dmarc.{HZ}", "TXT"))
    assert without.edns == -1  # no OPT unless asked (RFC 6891 §6.1.1)
    with_do = ask(responder, dns.message.make_query(f"_dmarc.{HZ}", "TXT", want_dnssec=True, payload=4096))
    assert with_do.edns == 0 and with_do.payload == 1232 and with_do.ednsflags & dns.flags.DO  # RFC 3225 §3


@pytest.mark.parametrize(("edns", "payload", "truncated"), [
    (-1, 0, True),  # 512 without EDNS (RFC 1035 §4.2.1)
    (0, 512, True),
    (0, 200, True),  # below 512 counts as 512 (RFC 6891 §6.2.5)
    (0, 1232, False),
    (0, 4096, False),
])
def test_truncation_by_the_clients_size(responder: Responder, edns: int, payload: int, truncated: bool) -> None:
    query = dns.message.make_query(f"medium._domainkey.{HZ}", "TXT", use_edns=edns, payload=payload)
    reply = ask(responder, query)
    assert bool(reply.flags & dns.flags.TC) is truncated
    if truncated:  # nothing partial: the question (and OPT) alone (RFC 2181 §9)
        assert (reply.answer, reply.authority, reply.additional) == ([], [], [])
        assert reply.edns == edns
    else:
        assert "".join(s.decode() for s in reply.answer[0][0].strings) == MEDIUM
    over_tcp = ask(responder, query, tcp=True)
    assert not over_tcp.flags & dns.flags.TC
    assert "".join(s.decode() for s in over_tcp.answer[0][0].strings) == MEDIUM


def test_larger_than_our_udp_size_is_truncated_even_for_big_buffers(responder: Responder) -> None:
    query = dns.message.make_query(f"big._domainkey.{HZ}", "TXT", use_edns=0, payload=65000)
    assert ask(responder, query).flags & dns.flags.TC
    full = ask(responder, query, tcp=True)
    assert "".join(s.decode() for s in full.answer[0][0].strings) == LONG
    assert [s for s in full.answer[0][0].strings if len(s) > 255] == []  # RFC 1035 §3.3.14
    assert responder.metrics.total(truncated=True) == 1 and responder.metrics.total(transport="tcp") == 1


def _header(flags: int, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 0x1234, flags, qd, an, ns, ar)


QUESTION = dns.name.from_text(f"_dmarc.{HZ}").to_wire() + struct.pack("!HH", 16, 1)


def test_garbage_and_responses_get_silence(responder: Responder) -> None:
    assert responder.answer(b"", "127.0.0.1", False) == ()
    assert responder.answer(b"\x12\x34\x01", "127.0.0.1", False) == ()  # shorter than a header
    assert responder.answer(_header(0x8400) + QUESTION, "127.0.0.1", False) == ()  # QR=1: a response
    assert responder.metrics.events[Event.DROPPED] == 3


@pytest.mark.parametrize(("wire", "rcode"), [
    (_header(0x0100) + QUESTION[:-3], dns.rcode.FORMERR),  # truncated question
    (_header(0x0100, qd=2) + QUESTION + QUESTION, dns.rcode.FORMERR),  # two questions
    (_header(0x0100, qd=0), dns.rcode.FORMERR),  # none
    (_header(0x0100) + b"\x3f" + b"a" * 10, dns.rcode.FORMERR),  # label running past the end
    (_header(0x0100) + b"\xc0\x0c" + QUESTION[-4:], dns.rcode.FORMERR),  # compression pointer to itself
    (_header(0x0100) + QUESTION + b"junk", dns.rcode.FORMERR),  # trailing bytes
    (_header(0x1100) + QUESTION, dns.rcode.NOTIMP),  # opcode 2 (STATUS)
    (_header(0x2900) + QUESTION, dns.rcode.NOTIMP),  # opcode 5 (UPDATE)
    (_header(0x2100) + QUESTION, dns.rcode.REFUSED),  # opcode 4 (NOTIFY): we are the primary
])
def test_malformed_and_unsupported_queries(responder: Responder, wire: bytes, rcode: dns.rcode.Rcode) -> None:
    replies = responder.answer(wire, "127.0.0.1", False)
    assert len(replies) == 1
    assert replies[0][:2] == b"\x12\x34"
    header = struct.unpack("!HH", replies[0][:4])[1]
    assert header & 0x8000 and header & 0xF == rcode
    assert (header >> 11) & 0xF == (struct.unpack("!H", wire[2:4])[0] >> 11) & 0xF  # opcode copied


def test_badvers_for_edns_above_zero(responder: Responder) -> None:
    reply = ask(responder, dns.message.make_query(f"_dmarc.{HZ}", "TXT", use_edns=1))
    assert reply.rcode() == dns.rcode.BADVERS and reply.edns == 0 and reply.answer == []  # RFC 6891 §6.1.3


def test_meta_and_obsolete_qtypes(responder: Responder) -> None:
    assert ask(responder, dns.message.make_query(f"_dmarc.{HZ}", "OPT")).rcode() == dns.rcode.FORMERR
    assert ask(responder, dns.message.make_query(f"_dmarc.{HZ}", "MAILB")).rcode() == dns.rcode.NOTIMP


def test_outside_the_zones_is_refused_never_recursive(responder: Responder) -> None:
    query = dns.message.make_query("www.example.com", "A")  # RD set, as stubs send it
    reply = ask(responder, query)
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & (dns.flags.AA | dns.flags.RA)
    assert reply.answer == [] and reply.authority == []
    chaos = dns.message.make_query("version.bind", "TXT", rdclass=dns.rdataclass.CH)
    assert ask(responder, chaos).rcode() == dns.rcode.REFUSED


def test_cache_is_bounded_and_cleared_on_swap() -> None:
    zone = Zone.from_records(HZ, RECORDS)
    responder = Responder(Authority.of([zone]), cache_size=10)
    for i in range(50):
        responder.answer(dns.message.make_query(f"n{i}.{HZ}", "A").to_wire(), "127.0.0.1", False)
    assert len(responder._cache) == 10
    newer = Zone.from_records(HZ, [*RECORDS, R(f"n1.{HZ}", "A", "192.0.2.1")])
    responder.swap(Authority.of([newer]))
    assert len(responder._cache) == 0
    assert ask(responder, dns.message.make_query(f"n1.{HZ}", "A")).answer[0][0].to_text() == "192.0.2.1"


def test_fast_parser_agrees_with_dnspython_on_the_key() -> None:
    from dmarcpilot.dnsserver.wire import key_of

    for query in (dns.message.make_query(f"A.{HZ}", "TXT"),
                  dns.message.make_query(f"b.{HZ}", "A", use_edns=0, payload=4096, want_dnssec=True),
                  dns.message.make_query(f"c.{HZ}", "AAAA", use_edns=0,
                                         options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"x" * 8)])):
        parsed = parse(query.to_wire())
        assert parsed is not None
        assert parsed[0] == key_of(query)[0]


def test_signed_queries_are_verified_and_answered_signed() -> None:
    key = dns.tsig.Key("k.", "c2VjcmV0LWZvci10aGUtZG1hcmNwaWxvdC10ZXN0cw==", dns.tsig.HMAC_SHA256)
    responder = Responder(Authority.of([Zone.from_records(HZ, RECORDS)]), transfers=TransferPolicy(key=key))
    query = dns.message.make_query(f"_Dmarc.{HZ}", "TXT")
    query.use_tsig({key.name: key}, key.name)
    wire = responder.answer(query.to_wire(), "127.0.0.1", False)[0]
    reply = dns.message.from_wire(wire, keyring={key.name: key}, request_mac=query.mac)  # verifies the MAC
    assert reply.had_tsig and reply.answer[0].name.to_text() == f"_Dmarc.{HZ}."
    wrong = dns.tsig.Key("k.", "d3JvbmctZm9yLXRoZS1kbWFyY3BpbG90LXRlc3RzIQ==", dns.tsig.HMAC_SHA256)
    forged = dns.message.make_query(f"_dmarc.{HZ}", "TXT")
    forged.use_tsig({wrong.name: wrong}, wrong.name)
    reply = ask(responder, forged)
    assert reply.rcode() == dns.rcode.NOTAUTH  # RFC 8945 §5.2
    unknown = dns.message.make_query(f"_dmarc.{HZ}", "TXT")
    unknown.use_tsig({dns.name.from_text("other."): wrong}, dns.name.from_text("other."))
    assert ask(responder, unknown).rcode() == dns.rcode.NOTAUTH


def test_metrics_name_common_qtypes_and_lump_the_rest(responder: Responder) -> None:
    for rdtype in ("TXT", "TYPE65000", "TYPE4000", "A"):
        responder.answer(dns.message.make_query(f"_dmarc.{HZ}", rdtype).to_wire(), "127.0.0.1", False)
    text = responder.metrics.render()
    assert 'dmarcpilot_dns_queries_total{qtype="other"} 2' in text
    assert 'dmarcpilot_dns_queries_total{qtype="TXT"} 1' in text and 'qtype="A"} 1' in text
    assert 'dmarcpilot_dns_responses_total{rcode="NOERROR"} 4' in text  # NODATA for the unknown types
    assert "TYPE65000" not in text
