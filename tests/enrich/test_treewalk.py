"""The RFC 9989 DNS Tree Walk against a DNS server on loopback."""

from __future__ import annotations

import asyncio

from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.enrich.treewalk import organizational_domain_dns, walk_names
from tests.dnsfake import FakeZone, serve


def test_walk_names_are_bounded() -> None:
    assert walk_names("a.b.example.com.") == ["a.b.example.com", "b.example.com", "example.com", "com"]
    long = ".".join(f"l{i}" for i in range(12)) + ".example.com"  # 14 labels
    names = walk_names(long)
    assert names[0] == long
    assert names[1] == "l7.l8.l9.l10.l11.example.com"  # jumps to the last seven labels
    assert len(names) == 8 and names[-1] == "com"


def test_organizational_domains() -> None:
    zone = FakeZone()
    zone.add("_dmarc.example.com", "TXT", '"v=DMARC1; p=reject"')
    zone.add("_dmarc.dept.example.com", "TXT", '"v=DMARC1; p=none"')
    zone.add("_dmarc.gov.example", "TXT", '"v=DMARC1; p=reject; psd=y"')  # a public suffix operator
    zone.add("_dmarc.agency.gov.example", "TXT", '"v=DMARC1; p=none"')
    zone.add("_dmarc.unit.org.example", "TXT", '"v=DMARC1; p=none; psd=n"')
    zone.add("_dmarc.org.example", "TXT", '"v=DMARC1; p=reject"')
    zone.add("_dmarc.two.example", "TXT", '"v=DMARC1; p=none"', '"v=DMARC1; p=reject"')  # two records: none
    with serve(zone) as port:
        resolver = make_resolver([f"127.0.0.1:{port}"])

        def org(name: str) -> str:
            return asyncio.run(organizational_domain_dns(resolver, name))

        # the record with the fewest labels on the way up
        assert org("mail.dept.example.com") == "example.com"
        # psd=y: one label below the public suffix domain
        assert org("www.agency.gov.example") == "agency.gov.example"
        # psd=n stops the walk where it is found
        assert org("host.unit.org.example") == "unit.org.example"
        # no record anywhere: the domain itself
        assert org("a.nowhere.example") == "a.nowhere.example"
        assert org("x.two.example") == "x.two.example"
