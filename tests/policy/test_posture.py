"""The posture check (``policy/posture.py``, ``dmarcpilot check``): static DNS worlds, then the real resolver path.

Every expected number below is counted by hand from the world it runs in;
the comments show the counting.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import dns.message
import dns.rdatatype
import dns.rrset
import sqlalchemy as sa
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dmarcpilot.cli.main import cli
from dmarcpilot.dnsclient import StaticDnsClient
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.policy.domains import DomainSettings
from dmarcpilot.policy.posture import (
    DkimState,
    DriftState,
    Finding,
    PostureReport,
    Presence,
    SelectorSource,
    Severity,
    check_dkim,
    check_dmarc,
    check_posture,
    check_spf,
)
from dmarcpilot.policy.publish import Publication
from dmarcpilot.policy.publisher import publication
from dmarcpilot.store.publishing import KeyState, StoredKey, add_key, save_settings
from tests.dnsfake import FakeZone, serve

DOMAIN = "example.edu"
HZ = "_dmarcpilot.example.edu"


def _rsa_record(bits: int) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; p=" + base64.b64encode(der).decode()


RSA_2048 = _rsa_record(2048)
RSA_1024 = _rsa_record(1024)


def run(client: StaticDnsClient, pub: Publication | None = None, selectors: Sequence[str] = (),
        stored_selectors: Sequence[str] = ()) -> PostureReport:
    return asyncio.run(check_posture(DOMAIN, client, pub, selectors, stored_selectors))


def codes(findings: Sequence[Finding], severity: Severity | None = None) -> list[str]:
    return [f.code for f in findings if severity is None or f.severity is severity]


def good_world() -> StaticDnsClient:
    return StaticDnsClient({
        (DOMAIN, "TXT"): ["v=spf1 ip4:192.0.2.0/24 mx include:spf.esp.example -all", "google-site-verification=x"],
        (DOMAIN, "MX"): ["10 mx1.example.edu."],
        ("mx1.example.edu", "A"): ["192.0.2.25"],
        ("spf.esp.example", "TXT"): ["v=spf1 ip4:198.51.100.0/24 a:out.esp.example ~all"],
        ("out.esp.example", "A"): ["198.51.100.7"],
        (f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=reject; rua=mailto:d@example.edu,mailto:agg@reports.example.net"],
        (f"{DOMAIN}._report._dmarc.reports.example.net", "TXT"): ["v=DMARC1"],
        (f"sel1._domainkey.{DOMAIN}", "TXT"): [RSA_2048],
        (f"_mta-sts.{DOMAIN}", "TXT"): ["v=STSv1; id=20240101000000"],
        (f"_smtp._tls.{DOMAIN}", "TXT"): ["v=TLSRPTv1; rua=mailto:tls@example.edu"],
    })


# --------------------------------------------------------------------------- a good domain


def test_good_domain_has_no_warning_and_no_error() -> None:
    report = run(good_world(), selectors=["sel1"])
    # ip4 0, mx 1, include 1; in spf.esp.example: ip4 0, a 1; -all ends the record: 3 lookups, no void
    assert (report.spf.lookups, report.spf.void_lookups) == (3, 0)
    assert report.spf.all_term == "-all"
    assert report.spf.records == ("v=spf1 ip4:192.0.2.0/24 mx include:spf.esp.example -all",)
    assert report.dmarc.found_at == "_dmarc.example.edu" and not report.dmarc.fallback
    assert report.dmarc.policy_applied is not None and report.dmarc.policy_applied.value == "reject"
    internal, external = report.dmarc.destinations
    assert (internal.host, internal.authorisation, internal.authorised) == ("example.edu", None, None)
    assert (external.authorisation, external.authorised) == (
        "example.edu._report._dmarc.reports.example.net", True)
    [key] = report.dkim
    assert (key.selector, key.state, key.bits, key.sources) == ("sel1", DkimState.FOUND, 2048, (SelectorSource.GIVEN,))
    assert report.mta_sts.state is Presence.PRESENT and report.tls_rpt.state is Presence.PRESENT
    assert report.drift == ()
    assert codes(report.findings, Severity.INFO) == ["mta-sts.policy-not-checked"]
    assert codes(report.findings, Severity.OK) == [
        "spf.lookups", "spf.all", "dmarc.policy", "dmarc.destination-authorised", "dkim.key", "mta-sts.present",
        "tlsrpt.present"]
    assert report.worst is Severity.INFO and not report.has_errors


def test_json_shape() -> None:
    data = run(good_world(), selectors=["sel1"]).to_dict()
    assert set(data) == {"domain", "org_domain", "worst", "spf", "dmarc", "dkim", "mta_sts", "tls_rpt", "drift",
                         "findings"}
    assert data["spf"]["lookups"] == 3 and data["spf"]["lookup_limit"] == 10
    assert data["dmarc"]["p"] == "reject" and data["dmarc"]["rua"] == [
        "mailto:d@example.edu", "mailto:agg@reports.example.net"]
    assert data["dkim"][0] == {"selector": "sel1", "name": "sel1._domainkey.example.edu", "state": "found",
                               "sources": ["option"], "key_type": "rsa", "bits": 2048, "record": RSA_2048}
    assert data["mta_sts"] == {"name": "_mta-sts.example.edu", "state": "present",
                               "record": "v=STSv1; id=20240101000000", "policy_url": "https://mta-sts.example.edu/.well-known/mta-sts.txt",
                               "policy_checked": False}
    assert json.loads(json.dumps(data)) == data


# --------------------------------------------------------------------------- SPF


def spf_world(*records: str, **more: Sequence[str]) -> StaticDnsClient:
    world = StaticDnsClient({(DOMAIN, "TXT"): list(records)})
    for key, values in more.items():
        name, rdtype = key.rsplit("__", 1)
        world.add(name.replace("_", "."), rdtype, *values)
    return world


def test_no_spf_record() -> None:
    spf = asyncio.run(check_spf(DOMAIN, spf_world("google-site-verification=x")))
    assert spf.records == () and spf.lookups is None
    assert codes(spf.findings) == ["spf.missing"]
    assert spf.findings[0].severity is Severity.ERROR and "RFC 7208 §4.5" in spf.findings[0].message


def test_two_spf_records_are_a_permerror() -> None:
    spf = asyncio.run(check_spf(DOMAIN, spf_world("v=spf1 -all", "v=spf1 mx -all")))
    assert spf.records == ("v=spf1 -all", "v=spf1 mx -all") and spf.record is None
    [finding] = spf.findings
    assert (finding.code, finding.severity) == ("spf.several-records", Severity.ERROR)
    assert "2 v=spf1 TXT records" in finding.message and "RFC 7208 §4.5" in finding.message


def test_syntax_error_names_the_term() -> None:
    spf = asyncio.run(check_spf(DOMAIN, spf_world("v=spf1 ip4:192.0.2.300 -all")))
    [finding] = spf.findings
    assert finding.code == "spf.syntax" and "'ip4:192.0.2.300'" in finding.message and "§5.6" in finding.message


def eleven_lookups() -> StaticDnsClient:
    world = StaticDnsClient({
        (DOMAIN, "TXT"): ["v=spf1 mx a include:i1.example include:i2.example ~all"],
        (DOMAIN, "MX"): ["10 mx1.example.edu."], (DOMAIN, "A"): ["192.0.2.1"],
        ("mx1.example.edu", "A"): ["192.0.2.25"],
        ("i1.example", "TXT"): ["v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example -all"],
        ("i2.example", "TXT"): ["v=spf1 a:h5.example a:h6.example mx:m.example -all"],
        ("m.example", "MX"): ["10 h1.example."],
    })
    for i in range(1, 7):
        world.add(f"h{i}.example", "A", f"198.51.100.{i}")
    return world


def test_eleven_lookups_is_a_permerror() -> None:
    spf = asyncio.run(check_spf(DOMAIN, eleven_lookups()))
    # top: mx 1, a 1, include 1, include 1 = 4; i1: four a = 4; i2: two a + mx = 3; 4 + 4 + 3 = 11
    assert (spf.lookups, spf.void_lookups) == (11, 0)
    errors = [f for f in spf.findings if f.severity is Severity.ERROR]
    assert codes(errors) == ["spf.too-many-lookups"]
    assert "needs 11 DNS lookups" in errors[0].message and "RFC 7208 §4.6.4" in errors[0].message


def test_void_lookups_redirect_and_terms_after_all() -> None:
    world = StaticDnsClient({
        (DOMAIN, "TXT"): ["v=spf1 a:gone1.example a:gone2.example exists:gone3.example redirect=_spf.example.edu"],
        ("_spf.example.edu", "TXT"): ["v=spf1 ip4:192.0.2.0/24 ?all include:never.example"],
    })
    spf = asyncio.run(check_spf(DOMAIN, world))
    # a, a, exists: 3 lookups, each NXDOMAIN (void); redirect 1; the target's include after all is never tested
    assert (spf.lookups, spf.void_lookups) == (4, 3)
    assert codes(spf.findings) == ["spf.lookups", "spf.too-many-void-lookups", "spf.redirect"]
    assert ("never.example", "TXT") not in world.queries


def test_broken_include_loop_and_plus_all() -> None:
    world = StaticDnsClient({
        (DOMAIN, "TXT"): ["v=spf1 include:loop.example include:empty.example include:%{d}.x.example +all"],
        ("loop.example", "TXT"): ["v=spf1 include:example.edu -all"],
        ("empty.example", "TXT"): ["not spf"],
    })
    spf = asyncio.run(check_spf(DOMAIN, world))
    # include loop 1 + (its include back 1), include empty 1, include with a macro 1 (not followed)
    assert (spf.lookups, spf.void_lookups) == (4, 0)
    assert codes(spf.findings) == ["spf.lookups", "spf.include-error", "spf.include-error", "spf.not-followed",
                                   "spf.pass-all"]
    assert "loops back to example.edu" in spf.findings[1].message
    assert "empty.example has no SPF records" in spf.findings[2].message


def test_dns_failure_inside_the_tree_is_an_error() -> None:
    world = StaticDnsClient({(DOMAIN, "TXT"): ["v=spf1 include:slow.example -all"]}, timeouts=["slow.example"])
    spf = asyncio.run(check_spf(DOMAIN, world))
    assert codes(spf.findings, Severity.ERROR) == ["spf.dns-error"]
    assert "TXT slow.example: timeout" in spf.findings[1].message
    # the domain's own TXT failing: nothing to count, one error
    down = asyncio.run(check_spf(DOMAIN, StaticDnsClient(servfail=[DOMAIN])))
    assert (down.lookups, codes(down.findings)) == (None, ["spf.dns-error"])
    assert "TXT example.edu: servfail" in down.findings[0].message


# --------------------------------------------------------------------------- DMARC


def test_dmarc_missing_falls_back_to_the_organisational_domain() -> None:
    world = StaticDnsClient({
        (f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.edu"],
        ("mail.example.edu", "A"): ["192.0.2.1"],
    })
    dmarc = asyncio.run(check_dmarc("mail.example.edu", world))
    assert (dmarc.name, dmarc.found_at, dmarc.fallback) == ("_dmarc.mail.example.edu", "_dmarc.example.edu", True)
    assert dmarc.policy_applied is not None and dmarc.policy_applied.value == "quarantine"  # sp= for a subdomain
    assert codes(dmarc.findings) == ["dmarc.org-fallback", "dmarc.policy"]
    assert "RFC 7489 §6.6.3" in dmarc.findings[0].message
    assert dmarc.findings[1].message.startswith("sp=quarantine at _dmarc.example.edu")
    assert dmarc.to_dict()["p"] == "reject" and dmarc.to_dict()["sp"] == "quarantine"


def test_dmarc_missing_everywhere() -> None:
    dmarc = asyncio.run(check_dmarc("mail.example.edu", StaticDnsClient({(DOMAIN, "A"): ["192.0.2.1"]})))
    [finding] = dmarc.findings
    assert (finding.code, finding.severity) == ("dmarc.missing", Severity.ERROR)
    assert "_dmarc.mail.example.edu nor at _dmarc.example.edu" in finding.message


def test_external_rua_without_authorisation_record() -> None:
    world = StaticDnsClient({
        (f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=none; pct=50; rua=mailto:a@example.edu,mailto:b@reports.example.net;"
                                      " ruf=mailto:f@sub.example.edu", "unrelated text"],
        ("reports.example.net", "MX"): ["10 mx.reports.example.net."],
    })
    dmarc = asyncio.run(check_dmarc(DOMAIN, world))
    assert [(d.tag, d.host, d.authorisation, d.authorised) for d in dmarc.destinations] == [
        ("rua", "example.edu", None, None),
        ("rua", "reports.example.net", "example.edu._report._dmarc.reports.example.net", False),
        ("ruf", "sub.example.edu", None, None),
    ]
    # p=none: monitoring (pct= only matters once there is a policy to apply)
    assert codes(dmarc.findings) == ["dmarc.monitoring", "dmarc.destination-unauthorised"]
    assert dmarc.findings[1].severity is Severity.WARNING and "RFC 7489 §7.1" in dmarc.findings[1].message


def test_two_dmarc_records_and_a_bad_one() -> None:
    two = StaticDnsClient({(f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=none", "v=DMARC1; p=reject"]})
    assert codes(asyncio.run(check_dmarc(DOMAIN, two)).findings) == ["dmarc.several-records"]
    bad = StaticDnsClient({(f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=block"]})
    [finding] = asyncio.run(check_dmarc(DOMAIN, bad)).findings
    assert finding.code == "dmarc.syntax" and "tag 'p'" in finding.message


# --------------------------------------------------------------------------- DKIM


def test_dkim_found_missing_revoked_invalid_short() -> None:
    world = StaticDnsClient({
        (f"old._domainkey.{DOMAIN}", "TXT"): ["v=DKIM1; k=rsa; p="],
        (f"bad._domainkey.{DOMAIN}", "TXT"): ["v=DKIM1; p=not-base64!"],
        (f"short._domainkey.{DOMAIN}", "TXT"): [RSA_1024],
    })
    states = {s: asyncio.run(check_dkim(DOMAIN, s, world)) for s in ("old", "bad", "short", "gone")}
    assert {s: c.state for s, c in states.items()} == {
        "old": DkimState.REVOKED, "bad": DkimState.INVALID, "short": DkimState.FOUND, "gone": DkimState.MISSING}
    assert [(f.code, f.severity) for f in states["old"].findings] == [("dkim.revoked", Severity.INFO)]
    assert states["old"].bits is None
    assert codes(states["bad"].findings, Severity.ERROR) == ["dkim.invalid"]
    assert (states["short"].bits, codes(states["short"].findings)) == (1024, ["dkim.short-key"])
    assert codes(states["gone"].findings, Severity.ERROR) == ["dkim.missing"]


def test_revoked_selector_in_a_whole_report() -> None:
    world = good_world()
    world.add(f"old._domainkey.{DOMAIN}", "TXT", "v=DKIM1; p=")
    report = run(world, selectors=["sel1", "OLD"])
    assert [(d.selector, d.state) for d in report.dkim] == [("sel1", DkimState.FOUND), ("old", DkimState.REVOKED)]
    assert not report.has_errors and "dkim.revoked" in codes(report.findings, Severity.INFO)


def test_no_selector_says_so() -> None:
    report = run(good_world())
    assert report.dkim == () and "dkim.no-selectors" in codes(report.findings, Severity.INFO)


# --------------------------------------------------------------------------- drift (needs the store)

CATALOGUE = Catalogue([])


def _publish_settings(engine: sa.Engine) -> None:
    save_settings(engine, DomainSettings(
        DOMAIN, spf_own_terms=("ip4:192.0.2.0/24", "mx"), dmarc_rua=("mailto:d@example.edu",),
        tlsrpt_rua=("mailto:tls@example.edu",), nameservers=("ns1.dp.example", "ns2.dp.example")), "alice")
    now = datetime.now(UTC)
    add_key(engine, StoredKey(DOMAIN, "dp2024", None, "rsa", 2048, RSA_2048, "sealed", KeyState.ACTIVE, now, now))


def test_drift_spf_differs_and_cname_missing(engine: sa.Engine) -> None:
    _publish_settings(engine)
    pub, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, None))
    assert [(r.name, r.rdtype, r.value) for r in pub.own_dns] == [
        (DOMAIN, "TXT", "v=spf1 ip4:192.0.2.0/24 mx ~all"),
        (f"_dmarc.{DOMAIN}", "CNAME", f"_dmarc.{HZ}"),
        (f"dp2024._domainkey.{DOMAIN}", "CNAME", f"dp2024._domainkey.{HZ}"),
        (f"_smtp._tls.{DOMAIN}", "CNAME", f"_smtp._tls.{HZ}"),
        (HZ, "NS", "ns1.dp.example"), (HZ, "NS", "ns2.dp.example"),
    ]
    world = StaticDnsClient({
        (DOMAIN, "TXT"): ["v=spf1 ip4:192.0.2.0/24 include:old.esp.example ~all"],
        ("old.esp.example", "TXT"): ["v=spf1 ip4:203.0.113.0/24 -all"],
        (f"_dmarc.{DOMAIN}", "TXT"): ["v=DMARC1; p=none; rua=mailto:d@example.edu"],  # a TXT, not the CNAME
        (f"dp2024._domainkey.{DOMAIN}", "CNAME"): [f"DP2024._domainkey.{HZ.upper()}."],
        (f"dp2024._domainkey.{HZ}", "TXT"): [RSA_2048],
        (HZ, "NS"): ["ns1.dp.example.", "ns3.dp.example."],
    })
    report = run(world, pub=pub, stored_selectors=["dp2024"])
    assert [(d.name, d.rdtype, d.state) for d in report.drift] == [
        (DOMAIN, "TXT", DriftState.DIFFERENT),
        (f"_dmarc.{DOMAIN}", "CNAME", DriftState.MISSING),
        (f"dp2024._domainkey.{DOMAIN}", "CNAME", DriftState.MATCH),  # case and root dot do not matter
        (f"_smtp._tls.{DOMAIN}", "CNAME", DriftState.MISSING),
        (HZ, "NS", DriftState.MATCH),
        (HZ, "NS", DriftState.DIFFERENT),
    ]
    spf = report.drift[0]
    assert (spf.missing_terms, spf.extra_terms) == (("mx",), ("include:old.esp.example",))
    assert spf.finding.code == "drift.spf-differs"
    assert "missing mx; extra include:old.esp.example" in spf.finding.message
    assert report.drift[5].live == ("ns1.dp.example", "ns3.dp.example")
    assert codes([d.finding for d in report.drift], Severity.WARNING) == [
        "drift.spf-differs", "drift.missing", "drift.missing", "drift.different"]
    # the stored key is also the compiled one, and the live DNS serves it through the CNAME
    [key] = report.dkim
    assert (key.state, key.sources) == (DkimState.FOUND, (SelectorSource.STORE, SelectorSource.PUBLICATION))
    assert codes(key.findings) == ["dkim.key"]


def test_drift_compares_spf_by_meaning(engine: sa.Engine) -> None:
    _publish_settings(engine)
    pub, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, None))
    world = StaticDnsClient({(DOMAIN, "TXT"): ["V=SPF1 +ip4:192.0.2.0/24  MX ~all"]})
    spf_drift = run(world, pub=pub).drift[0]
    assert spf_drift.state is DriftState.MATCH and spf_drift.finding.code == "drift.match"
    other = StaticDnsClient({(DOMAIN, "TXT"): ["v=spf1 mx ip4:192.0.2.0/24 ~all"]})
    reordered = run(other, pub=pub).drift[0]
    assert reordered.state is DriftState.DIFFERENT and (reordered.missing_terms, reordered.extra_terms) == ((), ())
    assert "order matters" in reordered.finding.message


def test_a_key_that_differs_from_the_compiled_one(engine: sa.Engine) -> None:
    _publish_settings(engine)
    pub, _ = asyncio.run(publication(engine, DOMAIN, CATALOGUE, None))
    world = StaticDnsClient({(f"dp2024._domainkey.{DOMAIN}", "TXT"): [RSA_1024]})
    [key] = run(world, pub=pub).dkim
    assert codes(key.findings) == ["dkim.short-key", "dkim.differs"]


# --------------------------------------------------------------------------- the command, over real DNS


class ChasingZone(FakeZone):
    """FakeZone answering a type the name lacks through its CNAME, as a resolver would (RFC 1034 §3.6.2)."""

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name, rdtype = question.name.to_text().lower(), dns.rdatatype.to_text(question.rdtype)
        target = self.records.get((name, "CNAME"))
        if rdtype == "CNAME" or target is None or (name, rdtype) in self.records:
            return super().answer(wire)
        self.queries[(name, rdtype)] += 1
        response = dns.message.make_response(query)
        response.answer.append(dns.rrset.from_text_list(question.name, self.ttl, "IN", "CNAME", target))
        final = (target[0].lower(), rdtype)
        if final in self.records:
            response.answer.append(dns.rrset.from_text_list(target[0], self.ttl, "IN", rdtype, self.records[final]))
        return response.to_wire()


def _txt(value: str) -> str:
    return '"' + value + '"'


def cli_zone() -> ChasingZone:
    zone = ChasingZone()
    zone.add(DOMAIN, "TXT", _txt("v=spf1 ip4:192.0.2.0/24 mx ~all"))
    zone.add(DOMAIN, "MX", "10 mx1.example.edu.")
    zone.add("mx1.example.edu", "A", "192.0.2.25")
    zone.add(f"_dmarc.{DOMAIN}", "CNAME", f"_dmarc.{HZ}.")
    zone.add(f"_dmarc.{HZ}", "TXT", _txt("v=DMARC1; p=none; rua=mailto:d@example.edu"))
    zone.add(f"_smtp._tls.{DOMAIN}", "CNAME", f"_smtp._tls.{HZ}.")
    zone.add(f"_smtp._tls.{HZ}", "TXT", _txt("v=TLSRPTv1; rua=mailto:tls@example.edu"))
    zone.add(HZ, "NS", "ns1.dp.example.")
    return zone


def test_check_command_through_the_resolver(sqlite_url: str) -> None:
    runner = CliRunner()
    setup = ["--db", sqlite_url, "domain", "set", DOMAIN, "--own", "ip4:192.0.2.0/24", "--own", "mx",
             "--rua", "mailto:d@example.edu", "--tlsrpt-rua", "mailto:tls@example.edu", "--ns", "ns1.dp.example",
             "--by", "alice"]
    assert runner.invoke(cli, setup, catch_exceptions=False).exit_code == 0
    zone = cli_zone()
    with serve(zone) as port:
        check = ["--db", sqlite_url, "check", DOMAIN, "--nameserver", f"127.0.0.1:{port}", "--format", "json"]
        clean = runner.invoke(cli, check, catch_exceptions=False)
        failing = runner.invoke(cli, [*check, "--selector", "sel1"], catch_exceptions=False)
    assert clean.exit_code == 0, clean.output
    data = json.loads(clean.output)
    assert data["worst"] == "info"  # p=none (monitoring), MTA-STS absent, no DKIM selector
    assert (data["spf"]["lookups"], data["spf"]["void_lookups"], data["spf"]["all"]) == (1, 0, "~all")
    assert data["dmarc"]["found_at"] == "_dmarc.example.edu" and data["dmarc"]["record"] == (
        "v=DMARC1; p=none; rua=mailto:d@example.edu")
    assert data["dmarc"]["policy_applied"] == "none" and data["dmarc"]["fallback"] is False
    assert (data["mta_sts"]["state"], data["tls_rpt"]["state"]) == ("absent", "present")
    assert [(d["name"], d["type"], d["state"]) for d in data["drift"]] == [
        (DOMAIN, "TXT", "match"), (f"_dmarc.{DOMAIN}", "CNAME", "match"),
        (f"_smtp._tls.{DOMAIN}", "CNAME", "match"), (HZ, "NS", "match")]
    assert sorted(f["code"] for f in data["findings"] if f["severity"] == "info") == [
        "dkim.no-selectors", "dmarc.monitoring", "mta-sts.absent"]
    assert zone.queries[(f"_dmarc.{DOMAIN}.", "CNAME")] >= 1

    assert failing.exit_code == 1, failing.output
    failed = json.loads(failing.output)
    assert failed["worst"] == "error"
    assert failed["dkim"] == [{"selector": "sel1", "name": f"sel1._domainkey.{DOMAIN}", "state": "missing",
                               "sources": ["option"], "key_type": None, "bits": None, "record": None}]
    assert [f["code"] for f in failed["findings"] if f["severity"] == "error"] == ["dkim.missing"]


def test_check_command_table(sqlite_url: str) -> None:
    zone = cli_zone()
    with serve(zone) as port:
        result = CliRunner().invoke(cli, ["--db", sqlite_url, "check", DOMAIN, "--nameserver", f"127.0.0.1:{port}"],
                                    catch_exceptions=False)
    # nothing stored for the domain: dmarcpilot would publish "v=spf1 ~all", so the live record differs (a warning)
    assert result.exit_code == 0, result.output
    assert "Posture of example.edu" in result.output and "drift.spf-differs" in result.output
