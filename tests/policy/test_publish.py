"""Publishing from the store: settings, snapshots and the refresh diff, zone serials, the records (both backends)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest
import sqlalchemy as sa

from dmarcpilot.dnsclient import StaticDnsClient
from dmarcpilot.enrich.catalogue import Catalogue, Service, ServiceKind
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.policy.domains import DomainSettings, SettingsError
from dmarcpilot.policy.publish import digest, master_file, zone_records
from dmarcpilot.policy.publisher import NOT_RESOLVED, publication
from dmarcpilot.policy.spfcompile import SpfMode
from dmarcpilot.records.dmarc import Policy
from dmarcpilot.records.mtasts import Mode
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.publishing import get_settings, save_settings, zone_serial

DOMAIN = "example.edu"


def _service(sid: str, include: str) -> Service:
    return Service(sid, sid, "email-platform", ServiceKind.SENDER, (include,), (), (), (), (), "align", ("https://x",))


CATALOGUE = Catalogue([_service("esp-a", "spf.esp-a.example"), _service("esp-b", "spf.esp-b.example")])


def world(esp_a: str = "ip4:198.51.100.0/24") -> StaticDnsClient:
    return StaticDnsClient({
        ("spf.esp-a.example", "TXT"): [f"v=spf1 {esp_a} -all"],
        ("spf.esp-b.example", "TXT"): ["v=spf1 ip6:2001:db8:b::/48 ~all"],
        ("example.edu", "MX"): ["10 mx.example.edu."],
        ("mx.example.edu", "A"): ["192.0.2.25"],
    })


def _setup(engine: sa.Engine) -> None:
    for subject in ("esp-a", "esp-b", "203.0.113.0/25"):
        decide(engine, DOMAIN, Subject.from_text(subject), Decision.APPROVED, "alice", "known sender")
    decide(engine, DOMAIN, Subject.from_text("esp-c"), Decision.REJECTED, "alice", "not ours")
    save_settings(engine, DomainSettings(
        DOMAIN, spf_own_terms=("mx",), spf_mode=SpfMode.EXISTS, dmarc_np=Policy.REJECT,
        dmarc_rua=("mailto:dmarc@reports.example.net",), mta_sts_mode=Mode.TESTING, mta_sts_mx=("*.example.edu",),
        tlsrpt_rua=("mailto:tls@example.edu",), nameservers=("ns1.dp.example", "ns2.dp.example")), "alice")


def test_settings_round_trip_and_defaults(engine: sa.Engine) -> None:
    assert get_settings(engine, "Other.Example.") == DomainSettings("other.example")
    assert get_settings(engine, "other.example").hosted_zone == "_dmarcpilot.other.example"
    _setup(engine)
    saved = get_settings(engine, DOMAIN)
    assert saved.spf_own_terms == ("mx",) and saved.mta_sts_mode is Mode.TESTING
    assert DomainSettings.from_dict(saved.to_dict()) == saved
    with pytest.raises(SettingsError, match="needs the MX patterns"):
        DomainSettings(DOMAIN, mta_sts_mode=Mode.ENFORCE)
    with pytest.raises(SettingsError):
        DomainSettings(DOMAIN, spf_own_terms=("-all",))


def test_publication_records(engine: sa.Engine) -> None:
    _setup(engine)
    pub, changes = asyncio.run(publication(engine, DOMAIN, CATALOGUE, world()))
    hz = "_dmarcpilot.example.edu"
    own = {(r.name, r.rdtype): r.value for r in pub.own_dns}
    assert own[(DOMAIN, "TXT")] == f"v=spf1 exists:%{{ir}}.%{{v}}._spf.{hz} ~all"
    assert own[(f"_dmarc.{DOMAIN}", "CNAME")] == f"_dmarc.{hz}"
    assert own[(f"_mta-sts.{DOMAIN}", "CNAME")] == f"_mta-sts.{hz}"
    hosted = {(r.name, r.rdtype): r.value for r in pub.hosted}
    assert hosted[(f"_dmarc.{hz}", "TXT")] == "v=DMARC1; p=none; np=reject; rua=mailto:dmarc@reports.example.net"
    assert hosted[(f"_smtp._tls.{hz}", "TXT")] == "v=TLSRPTv1; rua=mailto:tls@example.edu"
    # esp-a /24, esp-b /48, the approved /25 (128 names), the own MX host
    assert hosted[(f"*.100.51.198.in-addr._spf.{hz}", "A")] == "127.0.0.2"
    assert (f"*.b.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.{hz}", "A") in hosted
    assert (f"25.2.0.192.in-addr._spf.{hz}", "A") in hosted
    assert sum(1 for name, _ in hosted if name.endswith(f".113.0.203.in-addr._spf.{hz}")) == 128
    assert [(r.name, r.value) for r in pub.external] == [
        ("example.edu._report._dmarc.reports.example.net", "v=DMARC1")]
    assert pub.proof.holds and pub.warnings == ()
    assert {c.include: [str(n) for n in c.added] for c in changes} == {
        "spf.esp-a.example": ["198.51.100.0/24"], "spf.esp-b.example": ["2001:db8:b::/48"]}
    assert pub.mta_sts_policy == "version: STSv1\r\nmode: testing\r\nmx: *.example.edu\r\nmax_age: 604800\r\n"


def test_offline_uses_the_snapshot_and_refresh_shows_the_diff(engine: sa.Engine) -> None:
    _setup(engine)
    before, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, None))
    # nothing resolved yet: the includes stay includes, the own mx term is kept as written
    assert "include:spf.esp-a.example" in before.spf.record.to_text()
    assert dict(before.spf.kept)["spf.esp-a.example"] == NOT_RESOLVED
    assert any("2 include(s) never resolved" in w for w in before.warnings)
    online, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, world()))
    offline, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, None))
    assert offline.hosted == online.hosted and offline.own_dns == online.own_dns
    # the vendor moves: a refresh shows what was added and removed
    moved_world = world("ip4:198.51.100.0/25 ip4:192.0.2.128/26")
    moved, changes = asyncio.run(publication(engine, DOMAIN, CATALOGUE, moved_world))
    change = next(c for c in changes if c.include == "spf.esp-a.example")
    assert [str(n) for n in change.added] == ["192.0.2.128/26", "198.51.100.0/25"]
    assert [str(n) for n in change.removed] == ["198.51.100.0/24"]
    assert moved.proof.holds
    # the vendor's DNS fails: its last good snapshot is kept, the record does not change
    dead = StaticDnsClient(timeouts=["spf.esp-a.example"])
    for name, rdtype in (("spf.esp-b.example", "TXT"), ("example.edu", "MX"), ("mx.example.edu", "A")):
        dead.add(name, rdtype, *moved_world.lookup(name, rdtype).records)
    after, changes = asyncio.run(publication(engine, DOMAIN, CATALOGUE, dead))
    assert after.hosted == moved.hosted
    assert "keeping the snapshot" in (next(c for c in changes if c.include == "spf.esp-a.example").problem or "")


def test_zone_serial_changes_exactly_when_the_content_does(engine: sa.Engine) -> None:
    first = zone_serial(engine, "z.example", "a" * 64)
    assert zone_serial(engine, "z.example", "a" * 64) == first
    second = zone_serial(engine, "z.example", "b" * 64)
    assert second == first + 1
    assert zone_serial(engine, "z.example", "b" * 64) == second
    assert zone_serial(engine, "other.example", "a" * 64) % 100 == 0  # YYYYMMDD00 for a new zone


def test_master_file_is_absolute_and_splits_long_txt(engine: sa.Engine) -> None:
    _setup(engine)
    pub, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, world()))
    text = master_file(pub.settings.hosted_zone, zone_records(pub, 2026120400))
    assert "_dmarcpilot.example.edu. 3600 IN SOA ns1.dp.example. hostmaster.example.edu. 2026120400" in text
    assert "*.100.51.198.in-addr._spf._dmarcpilot.example.edu. 3600 IN A 127.0.0.2" in text
    assert digest(pub.hosted) == digest(reversed(pub.hosted))
    assert ipaddress.ip_network("203.0.113.0/25") in pub.spf.policy.networks
