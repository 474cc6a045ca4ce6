"""Attribution by service-specific evidence, classes, and the senders table."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.analysis.identify import Confidence, SenderClass
from dmarcpilot.analysis.senders import analyse, senders
from dmarcpilot.analysis.summary import summarise
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.enrich.rdns import PtrResult, PtrStatus
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.rdns import save as save_rdns
from tests.enrich.mmdb import write_mmdb

CATALOGUE = """
[[service]]
id = "esp-one"
name = "ESP One"
category = "transactional-esp"
dkim_domains = ["esp-one.example"]
alignment = "Publish ESP One's DKIM CNAMEs for your domain."
sources = ["https://docs.esp-one.example/dkim"]

[[service]]
id = "esp-two"
name = "ESP Two"
category = "marketing"
return_path_domains = ["bounce.esp-two.example"]
rdns_suffixes = ["out.esp-two.example"]
alignment = "Set a custom return-path under your domain."
sources = ["https://docs.esp-two.example/spf"]

[[service]]
id = "cloud-cheap"
name = "Cheap Cloud"
category = "other"
asns = [64511]
alignment = "n/a"
sources = ["https://docs.cloud.example"]
"""

_RECORD = """<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>
<disposition>none</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated></row>
<identifiers><header_from>example.edu</header_from>{env}</identifiers><auth_results>{auth}</auth_results></record>
"""


def _rec(ip: str, count: int, dkim: str, spf: str, env: str = "", dkim_d: str = "", dkim_r: str = "pass",
         spf_d: str = "", spf_r: str = "pass") -> str:
    auth = (f"<dkim><domain>{dkim_d}</domain><result>{dkim_r}</result></dkim>" if dkim_d else "") + (
        f"<spf><domain>{spf_d}</domain><result>{spf_r}</result></spf>" if spf_d else "")
    envelope = f"<envelope_from>{env}</envelope_from>" if env else ""
    return _RECORD.format(ip=ip, count=count, dkim=dkim, spf=spf, env=envelope, auth=auth)


REPORT = ("""<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name>
<report_id>id-1</report_id><date_range><begin>1700000000</begin><end>1700086399</end></date_range>
</report_metadata><policy_published><domain>example.edu</domain><p>none</p></policy_published>"""
          + _rec("192.0.2.1", 50, "pass", "fail", dkim_d="esp-one.example")  # ESP One by DKIM
          + _rec("192.0.2.2", 30, "fail", "fail", env="bounce.esp-two.example", spf_d="bounce.esp-two.example")
          + _rec("192.0.2.3", 5, "fail", "fail", dkim_d="esp-one.example", dkim_r="fail")  # failing DKIM: no proof
          + _rec("198.51.100.9", 12, "pass", "fail", dkim_d="example.edu", spf_d="list.example", spf_r="fail")
          + _rec("203.0.113.5", 40, "fail", "fail", env="example.edu", spf_d="example.edu", spf_r="fail")
          + _rec("203.0.113.6", 4, "fail", "fail")
          + _rec("192.0.2.200", 8, "pass", "pass", dkim_d="example.edu", spf_d="example.edu")
          + _rec("192.0.2.4", 6, "fail", "fail")  # ESP Two by confirmed rDNS
          + _rec("192.0.2.5", 2, "fail", "fail")  # in Cheap Cloud's own ASN
          + "</feedback>").encode()


def _setup(engine: sa.Engine, tmp_path: Path) -> tuple[IpDatabase, object]:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.xml").write_bytes(REPORT)
    Ingestor(engine).run(walk_paths([str(tmp_path / "in")]))
    (tmp_path / "cat.toml").write_text(CATALOGUE)
    ipdb = IpDatabase([write_mmdb(tmp_path / "geo.mmdb", {
        "203.0.113.0/24": {"country_code": "RU", "asn": "AS64496", "as_name": "Bulletproof Hosting"},
        "192.0.2.5/32": {"country_code": "US", "asn": "AS64511", "as_name": "Cheap Cloud"},
    }, "test")])
    save_rdns(engine, [
        PtrResult(ipaddress.ip_address("192.0.2.4"), PtrStatus.OK, "m4.out.esp-two.example", True),
        PtrResult(ipaddress.ip_address("203.0.113.5"), PtrStatus.OK, "host5.vps.bad.example", True),
    ], datetime(2023, 11, 15, tzinfo=UTC))
    decide(engine, "example.edu", Subject.from_text("esp-one"), Decision.APPROVED, "alice", "transactional mail")
    decide(engine, "example.edu", Subject.from_text("192.0.2.192/26"), Decision.APPROVED, "alice", "campus relays")
    return ipdb, load_catalogue([tmp_path / "cat.toml"])


def test_sources_are_attributed_with_evidence_and_classified(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    rows = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue,  # type: ignore[arg-type]
                                              today=date(2023, 11, 15))}
    one = rows["192.0.2.1"]
    assert (one.attribution.service.id, one.attribution.confidence, one.sender_class) == (  # type: ignore[union-attr]
        "esp-one", Confidence.HIGH, SenderClass.APPROVED)
    assert one.attribution.evidence == ("DKIM signature d=esp-one.example passes",)
    two = rows["192.0.2.2"]
    assert (two.attribution.service.id, two.attribution.confidence, two.sender_class, two.status) == (  # type: ignore[union-attr]
        "esp-two", Confidence.MEDIUM, SenderClass.KNOWN_UNAPPROVED, "pending")  # its bounce domain, SPF pass
    assert rows["192.0.2.4"].attribution.service.id == "esp-two"  # type: ignore[union-attr]
    assert rows["192.0.2.4"].attribution.confidence is Confidence.HIGH
    assert rows["192.0.2.5"].attribution.service.id == "cloud-cheap"  # type: ignore[union-attr]
    # a failing signature proves nothing: unattributed, failing both -> suspicious
    assert rows["192.0.2.3"].attribution.service is None
    assert rows["192.0.2.3"].sender_class is SenderClass.SUSPICIOUS
    assert rows["198.51.100.9"].sender_class is SenderClass.FORWARDER  # DKIM aligned pass, SPF fail
    assert rows["203.0.113.5"].sender_class is SenderClass.SUSPICIOUS
    assert rows["203.0.113.5"].attribution.group == "unknown: Bulletproof Hosting / bad.example"
    assert rows["203.0.113.6"].attribution.group == "unknown: Bulletproof Hosting / no reverse DNS"
    assert rows["192.0.2.200"].sender_class is SenderClass.APPROVED  # approved network


def test_senders_table(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    rows = senders(analyse(engine, "example.edu", 2, ipdb, catalogue, today=date(2023, 11, 15)))  # type: ignore[arg-type]
    by_name = {r["service"]: r for r in rows}
    assert [r["service"] for r in rows][:2] == ["ESP One", "unknown: Bulletproof Hosting / bad.example"]
    assert by_name["ESP One"] == {
        "service": "ESP One", "service_id": "esp-one", "category": "transactional-esp", "class": "approved",
        "status": "approved", "messages": 50, "sources": 1, "spf_aligned_rate": 0.0, "dkim_aligned_rate": 100.0,
        "dmarc_pass_rate": 100.0, "fix": None,
    }
    esp_two = by_name["ESP Two"]
    assert (esp_two["messages"], esp_two["sources"], esp_two["dmarc_pass_rate"]) == (36, 2, 0.0)
    assert esp_two["fix"] == "Set a custom return-path under your domain."
    assert esp_two["class"] == "known-but-unapproved"


def test_summary_counts_approved_services(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    s = summarise(engine, "example.edu", 2, ipdb, today=date(2023, 11, 15), catalogue=catalogue)  # type: ignore[arg-type]
    # approved: ESP One (192.0.2.1, 50 messages, all pass) and the network 192.0.2.192/26 (192.0.2.200, 8 pass)
    assert (s.approved_messages, s.approved_pass_rate) == (58, 100.0)
    assert s.messages == 50 + 30 + 5 + 12 + 40 + 4 + 8 + 6 + 2


def test_the_cached_analysis_follows_new_reports_and_decisions(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    first = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue,  # type: ignore[arg-type]
                                               today=date(2023, 11, 15))}
    assert first["192.0.2.2"].status == "pending"
    again = analyse(engine, "example.edu", 2, ipdb, catalogue, today=date(2023, 11, 15))  # type: ignore[arg-type]
    assert [r.evidence.ip for r in again] == list(first)  # from the cache: same rows
    decide(engine, "example.edu", Subject.from_text("esp-two"), Decision.APPROVED, "alice", "bulk mail")
    after = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue,  # type: ignore[arg-type]
                                               today=date(2023, 11, 15))}
    assert after["192.0.2.2"].status == "approved"
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "r.xml").write_bytes(REPORT.replace(b"<report_id>id-1</report_id>",
                                                             b"<report_id>id-2</report_id>"))
    Ingestor(engine).run(walk_paths([str(tmp_path / "more")]))
    more = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue,  # type: ignore[arg-type]
                                              today=date(2023, 11, 15))}
    assert more["192.0.2.1"].evidence.messages == 2 * first["192.0.2.1"].evidence.messages


def test_network_set_boundaries() -> None:
    from dmarcpilot.analysis.identify import NetworkSet

    nets = NetworkSet([ipaddress.ip_network("192.0.2.128/25"), ipaddress.ip_network("2001:db8:1::/48")])
    assert "192.0.2.128" in nets and "192.0.2.255" in nets
    assert "192.0.2.127" not in nets and "192.0.3.0" not in nets
    assert "2001:db8:1:ffff:ffff:ffff:ffff:ffff" in nets and "2001:db8:2::" not in nets
    assert "not an address" not in nets and "::ffff:192.0.2.200" not in nets  # v4-mapped is another family
    assert not NetworkSet([]) and nets
