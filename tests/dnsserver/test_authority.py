"""Zone lookups against hand-worked answers: RFC 4592 §2.2.1's example zone, CNAMEs, negative answers."""

from __future__ import annotations

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from dmarcpilot.dnsserver.authority import Authority, Resolution, Zone, ZoneError
from dmarcpilot.policy.zone import ZoneRecord as R

SOA = "ns.example.com. hostmaster.example. 2024010101 3600 600 1209600 300"

# RFC 4592 §2.2.1, record for record (SOA and SRV RDATA filled in)
RFC4592 = [
    R("example", "SOA", SOA, 3600),
    R("example", "NS", "ns.example.com."), R("example", "NS", "ns.example.net."),
    R("*.example", "TXT", "this is a wildcard"),
    R("*.example", "MX", "10 host1.example."),
    R("sub.*.example", "TXT", "this is not a wildcard"),
    R("host1.example", "A", "192.0.2.1"),
    R("_ssh._tcp.host1.example", "SRV", "0 0 22 host1.example."),
    R("_ssh._tcp.host2.example", "SRV", "0 0 22 host2.example."),
    R("subdel.example", "NS", "ns.example.com."), R("subdel.example", "NS", "ns.example.net."),
]


def ask(zone: Zone, name: str, rdtype: str) -> Resolution:
    return Authority.of([zone]).resolve(dns.name.from_text(name), dns.rdatatype.from_text(rdtype), dns.rdataclass.IN)


def answer(resolution: Resolution) -> list[tuple[str, str, str]]:
    return [(r.name.to_text(), dns.rdatatype.to_text(r.rdtype), rd.to_text())
            for r in Resolution.rrsets(resolution.answer) for rd in r]


def is_negative(resolution: Resolution, rcode: dns.rcode.Rcode) -> bool:
    """RFC 2308: the rcode, no answer beyond CNAMEs, the zone's SOA alone in the authority section."""
    return resolution.rcode == rcode and resolution.authoritative and \
        [dns.rdatatype.to_text(records.rdtype) for _owner, records in resolution.authority] == ["SOA"]


@pytest.fixture(scope="module")
def rfc4592() -> Zone:
    return Zone.from_records("example", RFC4592)


def test_rfc4592_synthesis_examples(rfc4592: Zone) -> None:
    """The answers RFC 4592 §2.2.1 works out for its zone."""
    # host3.example MX: synthesised from *.example, owner host3.example
    assert answer(ask(rfc4592, "host3.example.", "MX")) == [("host3.example.", "MX", "10 host1.example.")]
    # host3.example A: the wildcard matches but has no A: NODATA
    nodata = ask(rfc4592, "host3.example.", "A")
    assert nodata.answer == () and is_negative(nodata, dns.rcode.NOERROR)
    # foo.bar.example TXT: bar.example does not exist, the closest encloser is example
    assert answer(ask(rfc4592, "foo.bar.example.", "TXT")) == [("foo.bar.example.", "TXT", '"this is a wildcard"')]


def test_rfc4592_non_synthesis_examples(rfc4592: Zone) -> None:
    # host1.example MX: the name exists, no MX: NODATA, no wildcard
    assert is_negative(ask(rfc4592, "host1.example.", "MX"), dns.rcode.NOERROR)
    # sub.*.example MX: exists (its "*" is an ordinary label here): NODATA
    assert is_negative(ask(rfc4592, "sub.*.example.", "MX"), dns.rcode.NOERROR)
    # _telnet._tcp.host1.example SRV: closest encloser _tcp.host1.example (an empty non-terminal), no wildcard
    assert is_negative(ask(rfc4592, "_telnet._tcp.host1.example.", "SRV"), dns.rcode.NXDOMAIN)
    # ghost.*.example MX: closest encloser *.example, and *.*.example does not exist
    assert is_negative(ask(rfc4592, "ghost.*.example.", "MX"), dns.rcode.NXDOMAIN)
    # host.subdel.example A: below the cut: a referral, not authoritative
    referral = ask(rfc4592, "host.subdel.example.", "A")
    assert referral.rcode == dns.rcode.NOERROR and not referral.authoritative and referral.answer == ()
    assert [(r.name.to_text(), sorted(rd.to_text() for rd in r)) for r in Resolution.rrsets(referral.authority)] == [
        ("subdel.example.", ["ns.example.com.", "ns.example.net."])]


def test_empty_non_terminals_exist(rfc4592: Zone) -> None:
    # _tcp.host2.example has no records but a name below it: NODATA, not NXDOMAIN (RFC 4592 §2.2.2)
    assert is_negative(ask(rfc4592, "_tcp.host2.example.", "TXT"), dns.rcode.NOERROR)
    assert is_negative(ask(rfc4592, "host2.example.", "A"), dns.rcode.NOERROR)
    # and it blocks the wildcard for names below it: closest encloser _tcp.host2.example
    assert is_negative(ask(rfc4592, "_udp._tcp.host2.example.", "TXT"), dns.rcode.NXDOMAIN)
    # the wildcard itself can be asked for by name
    assert answer(ask(rfc4592, "*.example.", "TXT")) == [("*.example.", "TXT", '"this is a wildcard"')]


def test_empty_non_terminal_wildcard_gives_nodata() -> None:
    """A "*" that exists only as an ancestor is still the source of synthesis: NODATA (RFC 4592 §3.3.1)."""
    zone = Zone.from_records("ex.test", [R("ex.test", "SOA", SOA), R("a.*.ex.test", "TXT", "below the star")])
    assert is_negative(ask(zone, "anything.ex.test.", "TXT"), dns.rcode.NOERROR)
    assert answer(ask(zone, "a.*.ex.test.", "TXT")) == [("a.*.ex.test.", "TXT", '"below the star"')]


def test_negative_soa_ttl_is_the_smaller_of_ttl_and_minimum() -> None:
    """RFC 2308 §3: TTL of the SOA in a negative answer = min(SOA TTL, SOA MINIMUM)."""
    low_minimum = Zone.from_records("ex.test", [R("ex.test", "SOA", SOA, 3600)])  # minimum 300
    low_ttl = Zone.from_records("ex.test", [R("ex.test", "SOA", SOA, 60)])
    assert Resolution.rrsets(ask(low_minimum, "nope.ex.test.", "A").authority)[0].ttl == 300
    assert Resolution.rrsets(ask(low_ttl, "nope.ex.test.", "A").authority)[0].ttl == 60
    assert Resolution.rrsets(ask(low_minimum, "ex.test.", "SOA").answer)[0].ttl == 3600  # the SOA keeps its TTL


CNAMES = [
    R("ex.test", "SOA", SOA), R("ex.test", "NS", "ns1.ex.test"),
    R("alias.ex.test", "CNAME", "target.ex.test"),  # no trailing dot: absolute anyway
    R("target.ex.test", "TXT", "v=spf1 -all"),
    R("outside.ex.test", "CNAME", "mail.example.org."),
    R("dangling.ex.test", "CNAME", "missing.ex.test."),
    R("loop1.ex.test", "CNAME", "loop2.ex.test."), R("loop2.ex.test", "CNAME", "loop1.ex.test."),
    R("*.wild.ex.test", "CNAME", "target.ex.test."),
]


def test_cname_chased_inside_the_zone_only() -> None:
    zone = Zone.from_records("ex.test", CNAMES)
    assert answer(ask(zone, "alias.ex.test.", "TXT")) == [
        ("alias.ex.test.", "CNAME", "target.ex.test."), ("target.ex.test.", "TXT", '"v=spf1 -all"')]
    # asking for the CNAME itself returns it alone
    assert answer(ask(zone, "alias.ex.test.", "CNAME")) == [("alias.ex.test.", "CNAME", "target.ex.test.")]
    # a target elsewhere: the CNAME alone, the resolver follows it
    outside = ask(zone, "outside.ex.test.", "A")
    assert answer(outside) == [("outside.ex.test.", "CNAME", "mail.example.org.")] and outside.authority == ()
    # a target that does not exist: NXDOMAIN for the last name, the CNAME kept (RFC 6604 §2.1)
    dangling = ask(zone, "dangling.ex.test.", "A")
    assert answer(dangling) == [("dangling.ex.test.", "CNAME", "missing.ex.test.")]
    assert is_negative(dangling, dns.rcode.NXDOMAIN)
    # NODATA at the end of a chain
    assert is_negative(ask(zone, "alias.ex.test.", "A"), dns.rcode.NOERROR)
    # a loop stops after each name once
    assert [r[0] for r in answer(ask(zone, "loop1.ex.test.", "A"))] == ["loop1.ex.test.", "loop2.ex.test."]
    # a wildcard CNAME is synthesised with the queried name, then chased
    assert answer(ask(zone, "x.wild.ex.test.", "TXT")) == [
        ("x.wild.ex.test.", "CNAME", "target.ex.test."), ("target.ex.test.", "TXT", '"v=spf1 -all"')]


def test_names_compare_case_insensitively_and_outside_is_refused() -> None:
    zone = Zone.from_records("Ex.Test", CNAMES)
    assert answer(ask(zone, "TARGET.eX.tEST.", "TXT")) == [("target.ex.test.", "TXT", '"v=spf1 -all"')]
    refused = ask(zone, "example.org.", "A")
    assert (refused.rcode, refused.authoritative, refused.answer) == (dns.rcode.REFUSED, False, ())
    assert ask(zone, "test.", "SOA").rcode == dns.rcode.REFUSED  # the parent of the apex is not ours
    chaos = Authority.of([zone]).resolve(dns.name.from_text("target.ex.test."), dns.rdatatype.TXT,
                                         dns.rdataclass.CH)
    assert chaos.rcode == dns.rcode.REFUSED


def test_the_longest_apex_wins() -> None:
    parent = Zone.from_records("ex.test", [R("ex.test", "SOA", SOA), R("a.sub.ex.test", "A", "192.0.2.1")])
    child = Zone.from_records("sub.ex.test", [R("sub.ex.test", "SOA", SOA), R("b.sub.ex.test", "A", "192.0.2.2")])
    authority = Authority.of([parent, child])
    b = authority.resolve(dns.name.from_text("b.sub.ex.test."), dns.rdatatype.A, dns.rdataclass.IN)
    a = authority.resolve(dns.name.from_text("a.sub.ex.test."), dns.rdatatype.A, dns.rdataclass.IN)
    assert answer(b) == [("b.sub.ex.test.", "A", "192.0.2.2")]
    assert is_negative(a, dns.rcode.NXDOMAIN) and Resolution.rrsets(a.authority)[0].name.to_text() == "sub.ex.test."


def test_any_returns_every_rrset_of_the_name(rfc4592: Zone) -> None:
    assert sorted(r[1] for r in answer(ask(rfc4592, "other.example.", "ANY"))) == ["MX", "TXT"]


@pytest.mark.parametrize(("records", "message"), [
    ([R("ex.test", "A", "192.0.2.1")], "exactly one SOA"),
    ([R("ex.test", "SOA", SOA), R("other.test", "A", "192.0.2.1")], "outside the zone"),
    ([R("ex.test", "SOA", SOA), R("a.ex.test", "CNAME", "b.ex.test"), R("a.ex.test", "TXT", "x")], "CNAME and other"),
    ([R("ex.test", "SOA", SOA), R("a.ex.test", "A", "not an address")], "a.ex.test A"),
])
def test_records_that_do_not_make_a_zone(records: list[R], message: str) -> None:
    with pytest.raises(ZoneError, match=message):
        Zone.from_records("ex.test", records)


def test_transfer_order_and_digest() -> None:
    zone = Zone.from_records("ex.test", CNAMES)
    rrsets = zone.transfer_rrsets()
    assert rrsets[0].rdtype == dns.rdatatype.SOA and all(r.rdtype != dns.rdatatype.SOA for r in rrsets[1:])
    assert len(rrsets) == len(CNAMES)  # one RRset per record here
    assert zone.serial == 2024010101
    same = Zone.from_records("ex.test", list(reversed(CNAMES)))
    other = Zone.from_records("ex.test", [*CNAMES, R("new.ex.test", "A", "192.0.2.9")])
    assert same.digest == zone.digest != other.digest
