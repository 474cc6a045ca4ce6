"""Sources named by the ranges a service's SPF include authorises, resolved through a DNS server on loopback."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from dmarcpilot.analysis.identify import Confidence, SenderClass
from dmarcpilot.analysis.ranges import VendorRanges
from dmarcpilot.analysis.senders import analyse, clear_cache
from dmarcpilot.cli.main import cli
from dmarcpilot.dnsclient import ResolverClient
from dmarcpilot.enrich.catalogue import Catalogue, load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.policy.vendorranges import refresh_vendor_ranges
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.db import create_engine
from dmarcpilot.store.publishing import SnapshotKind, load_snapshots
from dmarcpilot.store.queries import include_networks
from tests.analysis.test_identify import _rec
from tests.dnsfake import FakeZone, serve

CATALOGUE = """
[[service]]
id = "hr-suite"
name = "HR Suite"
category = "hr"
spf_includes = ["_spf.hr-suite.example"]
alignment = "Add the include."
sources = ["https://docs.hr-suite.example/spf"]

[[service]]
id = "newsletter"
name = "Newsletter Tool"
category = "marketing"
spf_includes = ["spf.newsletter.example"]
alignment = "Add the include."
sources = ["https://docs.newsletter.example/spf"]

[[service]]
id = "big-esp"
name = "Big ESP"
category = "transactional-esp"
spf_includes = ["spf.big-esp.example"]
dkim_domains = ["big-esp.example"]
alignment = "Sign with your domain."
sources = ["https://docs.big-esp.example/spf"]
"""


def _catalogue(tmp_path: Path) -> Catalogue:
    (tmp_path / "cat.toml").write_text(CATALOGUE)
    return load_catalogue([tmp_path / "cat.toml"])


def _zone() -> FakeZone:
    zone = FakeZone()
    zone.add("_spf.hr-suite.example", "TXT", '"v=spf1 ip4:198.51.100.0/25 ip6:2001:db8:10::/48 -all"')
    # the newsletter tool relays through Big ESP as well as its own /28
    zone.add("spf.newsletter.example", "TXT", '"v=spf1 ip4:203.0.113.16/28 include:spf.big-esp.example ~all"')
    zone.add("spf.big-esp.example", "TXT", '"v=spf1 ip4:192.0.2.0/24 ~all"')
    return zone


def _refresh(engine: sa.Engine, catalogue: Catalogue, zone: FakeZone) -> list[str | None]:
    with serve(zone) as port:
        client = ResolverClient(make_resolver([f"127.0.0.1:{port}"]))
        return [c.problem for c in asyncio.run(refresh_vendor_ranges(engine, catalogue, client))]


def test_an_address_only_one_service_authorises_names_it(engine: sa.Engine, tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path)
    assert _refresh(engine, catalogue, _zone()) == [None, None, None]
    snaps = load_snapshots(engine, SnapshotKind.INCLUDE, ["spf.newsletter.example"])
    assert [str(n) for n in snaps["spf.newsletter.example"].expansion.networks] == ["192.0.2.0/24", "203.0.113.16/28"]
    ranges = VendorRanges(catalogue, include_networks(engine))
    hr = ranges.only_service("198.51.100.127")
    assert hr is not None and (hr.service.id, hr.include) == ("hr-suite", "_spf.hr-suite.example")
    assert ranges.only_service("198.51.100.128") is None  # just outside the /25
    assert ranges.only_service("2001:db8:10:ffff::1").service.id == "hr-suite"  # type: ignore[union-attr]
    assert ranges.only_service("2001:db8:11::1") is None
    newsletter = ranges.only_service("203.0.113.31")
    assert newsletter is not None and newsletter.service.id == "newsletter"
    # 192.0.2.7 is authorised by both Big ESP's include and the newsletter tool's (which includes Big ESP's)
    assert {h.service.id for h in ranges.hits("192.0.2.7")} == {"big-esp", "newsletter"}
    assert ranges.only_service("192.0.2.7") is None
    assert ranges.hits("not an address") == []


def test_analysis_uses_ranges_after_more_specific_evidence(engine: sa.Engine, tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path)
    report = ("""<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name>
<report_id>r-1</report_id><date_range><begin>1700000000</begin><end>1700086399</end></date_range>
</report_metadata><policy_published><domain>example.edu</domain><p>none</p></policy_published>"""
              + _rec("198.51.100.20", 9, "fail", "pass", spf_d="example.edu")
              + _rec("192.0.2.7", 4, "fail", "fail")
              + _rec("192.0.2.8", 6, "pass", "fail", dkim_d="big-esp.example")
              + "</feedback>")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.xml").write_text(report)
    Ingestor(engine).run(walk_paths([str(tmp_path / "in")]))
    ipdb = IpDatabase([])
    before = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue, date(2023, 11, 15))}
    assert before["198.51.100.20"].attribution.service is None
    _refresh(engine, catalogue, _zone())
    clear_cache()  # not needed for correctness (the version changed); proves the stored analysis is not reused
    rows = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue, date(2023, 11, 15))}
    hr = rows["198.51.100.20"]
    assert (hr.attribution.service.id, hr.attribution.confidence) == ("hr-suite", Confidence.MEDIUM)  # type: ignore[union-attr]
    assert hr.attribution.evidence[0].startswith("inside the ranges of HR Suite's SPF include _spf.hr-suite.example")
    assert hr.sender_class is SenderClass.KNOWN_UNAPPROVED
    assert rows["192.0.2.7"].attribution.service is None  # two services' includes hold it: not named by range
    assert rows["192.0.2.8"].attribution.service.id == "big-esp"  # type: ignore[union-attr]
    assert rows["192.0.2.8"].attribution.confidence is Confidence.HIGH  # its DKIM signature comes first


def test_a_vendor_failing_dns_keeps_its_last_good_ranges(engine: sa.Engine, tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path)
    _refresh(engine, catalogue, _zone())
    broken = _zone()
    broken.records.pop(("_spf.hr-suite.example.", "TXT"))
    problems = _refresh(engine, catalogue, broken)
    assert problems[0] is not None and "keeping the snapshot" in problems[0]
    assert include_networks(engine)["_spf.hr-suite.example"][0] == ["198.51.100.0/25", "2001:db8:10::/48"]


def test_the_ranges_command_resolves_every_catalogue_include(sqlite_url: str) -> None:
    """``dmarcpilot spf ranges`` against a loopback server that knows only Microsoft 365's include."""
    zone = FakeZone()
    zone.add("spf.protection.outlook.com", "TXT", '"v=spf1 ip4:40.92.0.0/15 ip6:2a01:111:f400::/48 -all"')
    includes = {i for s in load_catalogue().services.values() for i in s.spf_includes}
    with serve(zone) as port:
        result = CliRunner().invoke(cli, ["--db", sqlite_url, "spf", "ranges", "--nameserver", f"127.0.0.1:{port}",
                                          "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["includes"] == len(includes)
    by_name = {c["include"]: c for c in answer["changes"]}
    assert by_name["spf.protection.outlook.com"] == {"include": "spf.protection.outlook.com", "problem": None,
                                                     "added": ["40.92.0.0/15", "2a01:111:f400::/48"], "removed": []}
    assert all(c["problem"] for name, c in by_name.items() if name != "spf.protection.outlook.com")
    engine = create_engine(sqlite_url)
    ranges = VendorRanges(load_catalogue(), include_networks(engine))
    assert ranges.only_service("40.93.255.254").service.id == "microsoft-365"  # type: ignore[union-attr]
    engine.dispose()
