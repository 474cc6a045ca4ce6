"""The university sample: deterministic, well-formed, and its senders are named as designed."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmarcpilot.analysis.identify import SenderClass
from dmarcpilot.analysis.senders import analyse
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.samplegen import senders as profiles
from dmarcpilot.samplegen.university import generate, receivers, sources
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.db import create_engine, migrate
from tests.enrich.mmdb import write_mmdb

END = date(2026, 11, 30)


def _digest(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_same_options_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    one = generate(tmp_path / "a", seed=7, end=END, days=3, scale=0.05)
    two = generate(tmp_path / "b", seed=7, end=END, days=3, scale=0.05)
    other = generate(tmp_path / "c", seed=8, end=END, days=3, scale=0.05)
    assert one == two and _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c") and other.files > 0
    # one report per receiver and day, packed as each receiver packs them
    names = sorted(_digest(tmp_path / "a"))
    assert any(n.startswith("google.com!university.example!") and n.endswith(".zip") for n in names)
    assert any(n.startswith("enterprise.protection.outlook.com!") and n.endswith(".xml.gz") for n in names)
    assert any(n.startswith("fastmail.com!") and n.endswith(".xml") for n in names)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[sa.Engine, object]:
    tmp = tmp_path_factory.mktemp("university")
    result = generate(tmp / "reports", seed=1, end=END, days=7, scale=0.1)
    engine = create_engine(f"sqlite:///{tmp / 'store.db'}")
    migrate(engine)
    summary = Ingestor(engine).run(walk_paths([str(tmp / "reports")]))
    return engine, (result, summary)


def test_every_generated_report_is_stored_whole(ingested: tuple[sa.Engine, object]) -> None:
    engine, (result, _summary) = ingested  # type: ignore[misc]
    with engine.connect() as conn:
        reports, records, messages, errors = conn.execute(sa.text(
            "SELECT count(*), sum(record_count), sum(message_count), "
            "sum(CASE WHEN parse_errors = '[]' THEN 0 ELSE 1 END) FROM aggregate_reports")).one()
        quarantined = conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar()
    assert (reports, records, messages) == (result.files, result.records, result.messages)
    assert errors == 0 and quarantined == 0


def _profile_of(ip: str) -> str | None:
    address = ipaddress.ip_address(ip)
    for profile in profiles.PROFILES:
        if any(address in ipaddress.ip_network(p) for p in profile.prefixes):
            return profile.key
    return None


def test_services_are_named_by_their_documented_evidence(ingested: tuple[sa.Engine, object]) -> None:
    engine, _ = ingested  # type: ignore[misc]
    rows = analyse(engine, "university.example", 7, IpDatabase([]), load_catalogue(), END)
    by_profile: dict[str | None, set[str | None]] = {}
    for row in rows:
        service = row.attribution.service
        by_profile.setdefault(_profile_of(row.evidence.ip), set()).add(service.id if service else None)
    # designed in samplegen/senders.py: each from the vendor's default signing or bounce domain
    assert by_profile["microsoft-365"] == {"microsoft-365"}  # d=<tenant>.onmicrosoft.com
    assert by_profile["google-workspace"] == {"google-workspace"}  # d=...gappssmtp.com
    assert by_profile["servicenow"] == {"servicenow"}  # d=service-now.com
    assert by_profile["amazon-ses"] == {"amazon-ses"}  # envelope *.amazonses.com
    assert by_profile["mailchimp"] == {"mailchimp"}  # envelope *.mcsv.net
    # no catalogue evidence in what the reports hold: grouped by network, never guessed
    assert by_profile["salesforce"] == {None} and by_profile["qualtrics"] == {None}
    assert by_profile["campus-relays"] == {None}


def test_forwarders_and_spoofers_are_told_apart(ingested: tuple[sa.Engine, object]) -> None:
    engine, _ = ingested  # type: ignore[misc]
    rows = analyse(engine, "university.example", 7, IpDatabase([]), load_catalogue(), END)
    unattributed = [r for r in rows if r.attribution.service is None and _profile_of(r.evidence.ip) is None]
    classes = {r.sender_class for r in unattributed}
    assert SenderClass.FORWARDER in classes and SenderClass.SUSPICIOUS in classes
    for row in unattributed:
        ev = row.evidence
        if row.sender_class is SenderClass.FORWARDER:
            assert ev.dkim_aligned > 0 and ev.spf_aligned == 0
        if row.sender_class is SenderClass.SUSPICIOUS:
            assert ev.dmarc_pass == 0


def test_sources_spread_over_the_countries_the_ip_data_knows(tmp_path: Path) -> None:
    # 200 countries, one /8 each (fake IP data): spoofers, forwarders and vendors are taken round-robin by country
    networks = {f"{n}.0.0.0/8": {"country_code": f"C{n:03d}", "asn": f"AS{64512 + n}", "as_name": f"Net {n}"}
                for n in range(1, 224) if ipaddress.ip_network(f"{n}.0.0.0/8").is_global}
    ipdb = IpDatabase([write_mmdb(tmp_path / "geo.mmdb", networks, "ipinfo lite.mmdb")])
    assert generate(tmp_path / "reports", seed=1, end=END, days=2, scale=0.15, ipdb=ipdb).files > 0
    spread = sources(1, 0.15, ipdb, receivers())
    countries = {ipdb.lookup(s.ip).country for s in spread if s.profile.role is profiles.Role.SPOOFER}
    spoofers = sum(1 for s in spread if s.profile.role is profiles.Role.SPOOFER)
    assert spoofers == round(3500 * 0.15)
    assert len(countries) == min(spoofers, len(networks))
