"""The SPF compiler: both forms, flattening only what must be, the exists tree, and the proof.

Every expected record and name below is worked out by hand from the fake
vendors' records in ``WORLD``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import replace

import pytest

from dmarcpilot.dnsclient import DnsStatus, StaticDnsClient
from dmarcpilot.policy.spfcompile import SpfCompileError, SpfMode, SpfPolicy, compile_spf, exists_names, resolve
from dmarcpilot.policy.spfproof import prove
from dmarcpilot.policy.spftree import Capture
from dmarcpilot.policy.zone import ZoneClient, ZoneRecord
from dmarcpilot.spf import SpfResult, evaluate_record

ZONE = "_dmarcpilot.example.edu"
WORLD = {
    ("vendor-a.example", "TXT"): ["v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:a::/48 -all"],
    # 4 lookups as an include: itself, two nested includes, one a
    ("vendor-b.example", "TXT"): ["v=spf1 include:_n1.vendor-b.example include:_n2.vendor-b.example ~all"],
    ("_n1.vendor-b.example", "TXT"): ["v=spf1 ip4:203.0.113.0/25 ip4:203.0.113.128/26 -all"],
    ("_n2.vendor-b.example", "TXT"): ["v=spf1 a:out.vendor-b.example/30 -all"],
    ("out.vendor-b.example", "A"): ["203.0.113.200"],
    # depends on the message: must stay an include
    ("vendor-c.example", "TXT"): ["v=spf1 exists:%{i}._spf.vendor-c.example ~all"],
    ("192.0.2.177._spf.vendor-c.example", "A"): ["127.0.0.2"],
    ("vendor-d.example", "TXT"): ["v=spf1 ptr:vendor-d.example -all"],
    ("example.edu", "MX"): ["10 mx1.example.edu."],
    ("mx1.example.edu", "A"): ["192.0.2.200"],
    ("relay.example.edu", "A"): ["192.0.2.250"],
    **{(f"v{i:02}.example", "TXT"): [f"v=spf1 ip4:100.64.{i}.0/24 -all"] for i in range(1, 13)},
}


def world() -> StaticDnsClient:
    return StaticDnsClient(WORLD)


def policy(**kwargs: object) -> SpfPolicy:
    base = SpfPolicy(
        "example.edu", ZONE,
        networks=(ipaddress.ip_network("192.0.2.0/25"), ipaddress.ip_network("10.1.0.0/22"),
                  ipaddress.ip_network("2001:db8:1234::/47")),
        own_terms=SpfPolicy.parse_own_terms(["mx", "a:relay.example.edu"]),
    )
    return replace(base, **kwargs)  # type: ignore[arg-type]


def build(p: SpfPolicy, client: object | None = None):  # type: ignore[no-untyped-def]
    async def run():  # type: ignore[no-untyped-def]
        resolution = await resolve(p, client or world())  # type: ignore[arg-type]
        compiled = compile_spf(p, resolution)
        return compiled, resolution, await prove(compiled, resolution, sample=100)
    return asyncio.run(run())


def test_conventional_keeps_includes_when_they_fit() -> None:
    compiled, _res, proof = build(policy(includes=("vendor-a.example",)))
    assert compiled.mode is SpfMode.CONVENTIONAL
    assert compiled.record.to_text() == ("v=spf1 mx a:relay.example.edu ip4:10.1.0.0/22 ip4:192.0.2.0/25 "
                                         "ip6:2001:db8:1234::/47 include:vendor-a.example ~all")
    assert (compiled.lookups, compiled.flattened, compiled.zone) == (3, (), ())
    assert proof.holds and proof.checked > 300


def test_conventional_flattens_the_costliest_includes_first_and_only_as_many_as_needed() -> None:
    many = ("vendor-b.example", *(f"v{i:02}.example" for i in range(1, 13)))
    compiled, _res, proof = build(policy(includes=many))
    # own terms 2 + vendor-b 4 + twelve vendors 1 = 18, 8 left for includes (16):
    # vendor-b goes (12 left), then four one-lookup vendors (8)
    assert compiled.mode is SpfMode.CONVENTIONAL
    assert compiled.flattened == ("vendor-b.example", "v01.example", "v02.example", "v03.example", "v04.example")
    assert [name for name, _ in compiled.kept] == [f"v{i:02}.example" for i in range(5, 13)]
    assert compiled.lookups == 10
    text = compiled.record.to_text()
    assert "ip4:203.0.113.0/25 ip4:203.0.113.128/26 ip4:203.0.113.200/30" in text
    assert "ip4:100.64.1.0/24" in text and "include:v07.example" in text and "include:v01.example" not in text
    assert proof.holds


def test_exists_form_serves_every_address_and_keeps_what_cannot_flatten() -> None:
    p = policy(includes=("vendor-a.example", "vendor-b.example", "vendor-c.example", "vendor-d.example"),
               mode=SpfMode.EXISTS)
    compiled, _res, proof = build(p)
    assert compiled.record.to_text() == (f"v=spf1 exists:%{{ir}}.%{{v}}._spf.{ZONE} include:vendor-c.example "
                                         "include:vendor-d.example ~all")
    # exists 1 + vendor-c (include + exists) 2 + vendor-d (include + ptr) 2
    assert compiled.lookups == 5
    assert dict(compiled.kept) == {"vendor-c.example": "vendor-c.example: exists:%{i}._spf.vendor-c.example "
                                                       "depends on the message checked",
                                   "vendor-d.example": "vendor-d.example: ptr:vendor-d.example depends on the "
                                                       "message checked"}
    names = {r.name for r in compiled.zone}
    assert {r.rdtype for r in compiled.zone} == {"A"}
    assert f"*.100.51.198.in-addr._spf.{ZONE}" in names  # vendor-a 198.51.100.0/24
    assert f"200.113.0.203.in-addr._spf.{ZONE}" in names  # vendor-b's a:/30 -> 203.0.113.200-203
    assert f"250.2.0.192.in-addr._spf.{ZONE}" in names  # own relay (inside nothing else)
    assert f"*.a.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.{ZONE}" in names  # vendor-a 2001:db8:a::/48
    assert proof.holds


def test_the_proof_fails_when_the_zone_is_wrong() -> None:
    p = policy(includes=("vendor-a.example",), mode=SpfMode.EXISTS)
    compiled, res, _ = build(p)
    broken = replace(compiled, zone=tuple(r for r in compiled.zone if "100.51.198" not in r.name))
    proof = asyncio.run(prove(broken, res, sample=10))
    assert not proof.holds
    bad = {m.ip for m in proof.mismatches}
    assert ipaddress.ip_address("198.51.100.0") in bad and ipaddress.ip_address("198.51.100.255") in bad
    assert all((m.expected, m.compiled) == (SpfResult.PASS, SpfResult.SOFTFAIL) for m in proof.mismatches)


def test_auto_switches_to_exists_when_conventional_cannot_fit() -> None:
    # vendor-c and vendor-d cost 4 and cannot flatten; with 13 one-lookup vendors a plain record does not fit
    many = ("vendor-c.example", "vendor-d.example", *(f"v{i:02}.example" for i in range(1, 13)))
    long_nets = tuple(ipaddress.ip_network(f"100.{i}.0.0/16") for i in range(100, 140, 2))
    compiled, _res, proof = build(policy(includes=many, networks=long_nets))
    assert compiled.mode is SpfMode.EXISTS
    assert proof.holds
    with pytest.raises(SpfCompileError, match="do not fit in 10 lookups"):
        build(policy(includes=many, networks=long_nets, mode=SpfMode.CONVENTIONAL,
                     own_terms=SpfPolicy.parse_own_terms([f"a:h{i}.example.edu" for i in range(7)])))


def test_own_terms_must_be_pass_mechanisms() -> None:
    with pytest.raises(SpfCompileError, match="only pass terms"):
        policy(own_terms=SpfPolicy.parse_own_terms(["-ip4:192.0.2.1"]))
    with pytest.raises(SpfCompileError, match="a mechanism is needed"):
        SpfPolicy.parse_own_terms(["redirect=example.net"])


def test_without_dns_the_includes_are_kept_as_they_are() -> None:
    dead = StaticDnsClient(timeouts=[name for name, _ in WORLD])
    compiled, res, _proof = build(policy(includes=("vendor-a.example",), own_terms=()), dead)
    assert res.includes["vendor-a.example"].problem == "TXT vendor-a.example: timeout"
    assert "include:vendor-a.example" in compiled.record.to_text()


def test_capture_round_trips_and_answers_offline() -> None:
    _compiled, res, _ = build(policy(includes=("vendor-b.example",)))
    again = Capture.from_json(res.capture.to_json())
    assert again == res.capture
    answer = asyncio.run(again.client().query("out.vendor-b.example", "A"))
    assert (answer.status, answer.records) == (DnsStatus.OK, ("203.0.113.200",))
    assert asyncio.run(again.client().query("out.vendor-b.example", "AAAA")).status is DnsStatus.NODATA


@pytest.mark.parametrize(("net", "expected"), [
    ("192.0.2.0/24", ["*.2.0.192.in-addr.Z"]),
    ("192.0.2.7/32", ["7.2.0.192.in-addr.Z"]),
    ("10.0.0.0/8", ["*.10.in-addr.Z"]),
    ("10.1.4.0/22", ["*.4.1.10.in-addr.Z", "*.5.1.10.in-addr.Z", "*.6.1.10.in-addr.Z", "*.7.1.10.in-addr.Z"]),
    ("2001:db8::/32", ["*.8.b.d.0.1.0.0.2.ip6.Z"]),
    ("2001:db8::/31", ["*.8.b.d.0.1.0.0.2.ip6.Z", "*.9.b.d.0.1.0.0.2.ip6.Z"]),
    ("2001:db8::1/128", [".".join(reversed("20010db8000000000000000000000001")) + ".ip6.Z"]),
])
def test_exists_names(net: str, expected: list[str]) -> None:
    p = SpfPolicy("example.edu", "zone.example")
    names = exists_names(ipaddress.ip_network(net), p)
    assert names == [e.replace(".Z", "._spf.zone.example") for e in expected]


def test_exists_names_of_a_slash_25_are_its_128_addresses_and_slash_0_is_refused() -> None:
    p = SpfPolicy("example.edu", "zone.example")
    names = exists_names(ipaddress.ip_network("192.0.2.128/25"), p)
    assert len(names) == 128 and names[0] == "128.2.0.192.in-addr._spf.zone.example"
    assert names[-1] == "255.2.0.192.in-addr._spf.zone.example"
    with pytest.raises(SpfCompileError):
        exists_names(ipaddress.ip_network("0.0.0.0/0"), p)


def test_zone_client_wildcards_follow_rfc_4592() -> None:
    z = "z.example"
    client = ZoneClient([ZoneRecord(f"*.2.0.192.in-addr.{z}", "A", "127.0.0.2"),
                         ZoneRecord(f"7.3.0.192.in-addr.{z}", "A", "127.0.0.2"),
                         ZoneRecord(f"_dmarc.{z}", "TXT", "v=DMARC1; p=none")], (z,))

    def ask(name: str, rdtype: str = "A") -> DnsStatus:
        return asyncio.run(client.query(name, rdtype)).status

    assert ask(f"9.2.0.192.in-addr.{z}") is DnsStatus.OK  # synthesised from the wildcard
    assert ask(f"9.2.0.192.in-addr.{z}", "TXT") is DnsStatus.NODATA
    assert ask(f"2.0.192.in-addr.{z}") is DnsStatus.NODATA  # an empty non-terminal
    assert ask(f"8.3.0.192.in-addr.{z}") is DnsStatus.NXDOMAIN  # closest encloser 3.0.192 has no wildcard
    assert ask(f"7.3.0.192.in-addr.{z}") is DnsStatus.OK
    assert ask(f"x.9.2.0.192.in-addr.{z}") is DnsStatus.OK  # a wildcard covers deeper names too
    assert ask(f"_DMARC.{z.upper()}", "TXT") is DnsStatus.OK


def test_compiled_exists_record_evaluates_pass_and_softfail() -> None:
    p = policy(includes=("vendor-a.example",), mode=SpfMode.EXISTS)
    compiled, res, _ = build(p)
    client = ZoneClient(compiled.zone, (ZONE,), res.capture.client())

    def result(ip: str) -> SpfResult:
        outcome = asyncio.run(evaluate_record(compiled.record, ip, "example.edu", "a@example.edu", client=client))
        return outcome.result

    assert result("198.51.100.17") is SpfResult.PASS
    assert result("10.1.3.255") is SpfResult.PASS and result("10.1.4.0") is SpfResult.SOFTFAIL
    assert result("2001:db8:1235:ffff::1") is SpfResult.PASS and result("2001:db8:1236::") is SpfResult.SOFTFAIL
    assert result("192.0.2.128") is SpfResult.SOFTFAIL  # the approved range is a /25


def test_only_differences_in_authorisation_break_the_proof() -> None:
    from dmarcpilot.policy.spfproof import Mismatch, Proof

    ip = ipaddress.ip_address("192.0.2.9")
    benign = Proof(10, (Mismatch(ip, SpfResult.SOFTFAIL, SpfResult.PERMERROR),))
    assert benign.holds and len(benign.notes) == 1 and benign.mismatches == ()
    broken = Proof(10, (Mismatch(ip, SpfResult.PASS, SpfResult.PERMERROR),))
    assert not broken.holds and broken.notes == ()
