"""The DNS client abstraction: the in-memory zone, layering, and the resolver client on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import dns.asyncresolver
import pytest

from dmarcpilot.dnsclient import (
    DnsAnswer,
    DnsClient,
    DnsStatus,
    LayeredDnsClient,
    ResolverClient,
    StaticDnsClient,
    normalize_name,
)
from tests.dnsfake import FakeZone, serve


def ask(client: DnsClient, name: str, rdtype: str) -> DnsAnswer:
    return asyncio.run(client.query(name, rdtype))


# --------------------------------------------------------------------------- StaticDnsClient


@pytest.fixture
def zone() -> StaticDnsClient:
    return StaticDnsClient({
        ("example.com", "TXT"): ["v=spf1 -all", "other"],
        ("Example.COM.", "A"): ["192.0.2.1"],
        ("a.b.deep.example.com", "A"): ["192.0.2.2"],
        ("alias.example.com", "CNAME"): ["example.com."],
        ("chain.example.com", "CNAME"): ["alias.example.com"],
        ("loop1.example.com", "CNAME"): ["loop2.example.com."],
        ("loop2.example.com", "CNAME"): ["loop1.example.com."],
        ("dangling.example.com", "CNAME"): ["nowhere.example.com."],
        ("slow.example.com", "TXT"): ["v=spf1 +all"],
    }, timeouts=["slow.example.com", ("pair.example.com", "MX")], servfail=["broken.example.com"])


def test_static_answers_records_in_order(zone: StaticDnsClient) -> None:
    assert ask(zone, "example.com", "TXT") == DnsAnswer(DnsStatus.OK, ("v=spf1 -all", "other"))


def test_static_names_are_case_insensitive_and_the_trailing_dot_optional(zone: StaticDnsClient) -> None:
    for name in ("example.com", "EXAMPLE.com.", "eXample.Com"):
        assert ask(zone, name, "a").records == ("192.0.2.1",)


def test_static_tells_nxdomain_from_nodata(zone: StaticDnsClient) -> None:
    assert ask(zone, "example.com", "MX").status is DnsStatus.NODATA
    assert ask(zone, "nothing.example.com", "TXT").status is DnsStatus.NXDOMAIN
    # empty non-terminals exist (RFC 8020): deep.example.com and b.deep.example.com have no records
    assert ask(zone, "deep.example.com", "A").status is DnsStatus.NODATA
    assert ask(zone, "b.deep.example.com", "TXT").status is DnsStatus.NODATA
    assert ask(zone, "c.deep.example.com", "TXT").status is DnsStatus.NXDOMAIN


def test_static_timeouts_and_servfail(zone: StaticDnsClient) -> None:
    # a name-wide timeout still answers the types the name has records of
    assert ask(zone, "slow.example.com", "TXT").records == ("v=spf1 +all",)
    assert ask(zone, "slow.example.com", "A").status is DnsStatus.TIMEOUT
    assert ask(zone, "pair.example.com", "MX").status is DnsStatus.TIMEOUT
    assert ask(zone, "pair.example.com", "A").status is DnsStatus.NXDOMAIN
    assert ask(zone, "broken.example.com", "TXT").status is DnsStatus.SERVFAIL


def test_static_follows_cnames(zone: StaticDnsClient) -> None:
    assert ask(zone, "chain.example.com", "TXT").records == ("v=spf1 -all", "other")
    assert ask(zone, "alias.example.com", "CNAME").records == ("example.com.",)
    assert ask(zone, "loop1.example.com", "A").status is DnsStatus.SERVFAIL
    assert ask(zone, "dangling.example.com", "A").status is DnsStatus.NXDOMAIN


def test_static_counts_every_question(zone: StaticDnsClient) -> None:
    ask(zone, "Example.com.", "TXT")
    ask(zone, "example.com", "TXT")
    ask(zone, "nothing.example.com", "a")
    assert zone.queries == {("example.com", "TXT"): 2, ("nothing.example.com", "A"): 1}


def test_static_add_grows_rrsets_and_makes_names_exist() -> None:
    zone = StaticDnsClient()
    zone.add("x.example", "A", "192.0.2.1")
    zone.add("X.example.", "A", "192.0.2.2")
    zone.add("empty.example", "TXT")
    assert ask(zone, "x.example", "A").records == ("192.0.2.1", "192.0.2.2")
    assert ask(zone, "empty.example", "TXT").status is DnsStatus.NODATA
    assert zone.holds("x.example", "A") and not zone.holds("x.example", "TXT")


def test_void_property() -> None:
    assert DnsAnswer(DnsStatus.NXDOMAIN).void and DnsAnswer(DnsStatus.NODATA).void
    assert not DnsAnswer(DnsStatus.TIMEOUT).void and not DnsAnswer(DnsStatus.OK, ("x",)).void


def test_normalize_name() -> None:
    assert normalize_name("Mail.Example.COM.") == "mail.example.com"
    assert normalize_name(".") == "."


# --------------------------------------------------------------------------- LayeredDnsClient


def test_layered_answers_from_the_top_per_rrset_and_falls_back() -> None:
    base = StaticDnsClient({("example.com", "TXT"): ["v=spf1 -all"], ("example.com", "A"): ["192.0.2.1"],
                            ("_spf.example.com", "TXT"): ["old"]})
    top = StaticDnsClient({("example.com", "TXT"): ["v=spf1 include:_spf.example.com -all"],
                           ("_spf.example.com", "TXT"): ["v=spf1 ip4:192.0.2.0/24 -all"]})
    layered = top.overlay(base)
    assert isinstance(layered, LayeredDnsClient)
    assert ask(layered, "example.com", "TXT").records == ("v=spf1 include:_spf.example.com -all",)
    assert ask(layered, "_spf.example.com", "TXT").records == ("v=spf1 ip4:192.0.2.0/24 -all",)
    assert ask(layered, "EXAMPLE.com.", "A").records == ("192.0.2.1",)  # not held on top: from base
    assert ask(layered, "missing.example.com", "TXT").status is DnsStatus.NXDOMAIN
    assert base.queries == {("example.com", "A"): 1, ("missing.example.com", "TXT"): 1}


# --------------------------------------------------------------------------- ResolverClient on loopback


@pytest.fixture
def served() -> Iterator[tuple[FakeZone, ResolverClient]]:
    fake = FakeZone()
    fake.add("example.com", "TXT", '"v=spf1 ip4:192.0.2.0/24" " -all"', '"google-site-verification=x"')
    fake.add("example.com", "A", "192.0.2.1")
    fake.add("example.com", "AAAA", "2001:DB8::1")
    fake.add("example.com", "MX", "10 mail.example.com.", "20 .")
    fake.add("1.2.0.192.in-addr.arpa", "PTR", "mail.example.com.")
    fake.add("bytes.example.com", "TXT", '"v=spf1 \\200all"')
    fake.silent.add("slow.example.com.")
    fake.servfail.add("broken.example.com.")
    with serve(fake) as port:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = port
        yield fake, ResolverClient(resolver, lifetime=0.5)


def test_resolver_joins_txt_strings_without_separator(served: tuple[FakeZone, ResolverClient]) -> None:
    _, client = served
    answer = ask(client, "example.com", "TXT")
    assert answer.status is DnsStatus.OK
    assert sorted(answer.records) == ["google-site-verification=x", "v=spf1 ip4:192.0.2.0/24 -all"]


def test_resolver_record_texts(served: tuple[FakeZone, ResolverClient]) -> None:
    _, client = served
    assert ask(client, "example.com", "A").records == ("192.0.2.1",)
    assert ask(client, "example.com", "AAAA").records == ("2001:db8::1",)
    assert sorted(ask(client, "example.com", "MX").records) == ["10 mail.example.com.", "20 ."]
    assert ask(client, "1.2.0.192.in-addr.arpa.", "PTR").records == ("mail.example.com.",)


def test_resolver_keeps_non_utf8_bytes_non_ascii(served: tuple[FakeZone, ResolverClient]) -> None:
    _, client = served
    (text,) = ask(client, "bytes.example.com", "TXT").records
    assert text == "v=spf1 \ufffdall" and not text.isascii()


def test_resolver_maps_failures_to_statuses(served: tuple[FakeZone, ResolverClient]) -> None:
    fake, client = served
    assert ask(client, "nothing.example.com", "TXT").status is DnsStatus.NXDOMAIN
    assert ask(client, "example.com", "PTR").status is DnsStatus.NODATA
    assert ask(client, "slow.example.com", "TXT").status is DnsStatus.TIMEOUT
    assert ask(client, "broken.example.com", "TXT").status is DnsStatus.SERVFAIL
    assert ask(client, "a" * 64 + ".example.com", "TXT").status is DnsStatus.NXDOMAIN  # no such name on the wire
    assert fake.queries[("nothing.example.com.", "TXT")] == 1
