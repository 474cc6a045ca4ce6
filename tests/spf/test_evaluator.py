"""check_host() beyond the conformance suite: limits, trace, timeouts, outcome fields, evaluate_record."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Mapping, Sequence

import pytest

from dmarcpilot.dnsclient import DnsAnswer, DnsClient, DnsStatus, StaticDnsClient
from dmarcpilot.records.spf import SpfRecord
from dmarcpilot.spf import (
    SpfLimits,
    SpfOutcome,
    SpfResult,
    TraceLookup,
    TraceTerm,
    check_host,
    check_mail_from,
    evaluate_record,
    spf_identity,
)

SENDER = "alice@example.com"


def zone(records: Mapping[tuple[str, str], Sequence[str]], **kwargs: object) -> StaticDnsClient:
    return StaticDnsClient(records, **kwargs)  # type: ignore[arg-type]


def check(client: DnsClient, ip: str = "192.0.2.10", domain: str = "example.com", sender: str = SENDER,
          **kwargs: object) -> SpfOutcome:
    return asyncio.run(check_host(ip, domain, sender, client=client, **kwargs))  # type: ignore[arg-type]


def spf(record: str, **more: Sequence[str]) -> StaticDnsClient:
    """example.com publishes ``record``; ``more`` maps 'name|TYPE' to records."""
    records: dict[tuple[str, str], Sequence[str]] = {("example.com", "TXT"): [record]}
    for key, values in more.items():
        name, rdtype = key.split("|")
        records[(name, rdtype)] = values
    return zone(records)


# --------------------------------------------------------------------------- §4.6.4 limits


def _a_terms(count: int) -> tuple[str, dict[tuple[str, str], list[str]]]:
    names = [f"h{i}.example.net" for i in range(1, count + 1)]
    records = {(n, "A"): ["198.51.100.1"] for n in names}
    return "v=spf1 " + " ".join(f"a:{n}" for n in names) + " -all", records


def test_ten_dns_terms_are_allowed() -> None:
    text, records = _a_terms(10)
    outcome = check(zone({("example.com", "TXT"): [text], **records}))
    assert outcome.result is SpfResult.FAIL and outcome.lookups == 10


def test_the_eleventh_dns_term_is_a_permerror() -> None:
    text, records = _a_terms(11)
    client = zone({("example.com", "TXT"): [text], **records})
    outcome = check(client)
    assert outcome.result is SpfResult.PERMERROR
    assert "§4.6.4" in (outcome.reason or "") and outcome.term == "a:h11.example.net"
    assert ("h11.example.net", "A") not in client.queries  # stopped before asking


def test_lookups_count_across_includes_and_redirect() -> None:
    client = zone({
        ("example.com", "TXT"): ["v=spf1 include:i1.example.net redirect=r.example.net"],
        ("i1.example.net", "TXT"): ["v=spf1 a:x.example.net mx:x.example.net ~all"],
        ("x.example.net", "A"): ["198.51.100.1"], ("x.example.net", "MX"): ["10 x.example.net."],
        ("r.example.net", "TXT"): ["v=spf1 -exists:x.example.net +all"],
    })
    outcome = check(client, ip="203.0.113.1")
    # include, a, mx (§4.6.4), redirect, exists: exists matches → -exists → fail
    assert (outcome.result, outcome.lookups, outcome.term, outcome.domain) == \
        (SpfResult.FAIL, 5, "-exists:x.example.net", "r.example.net")


def test_custom_term_limit() -> None:
    text, records = _a_terms(3)
    outcome = check(zone({("example.com", "TXT"): [text], **records}), limits=SpfLimits(dns_terms=2))
    assert outcome.result is SpfResult.PERMERROR and outcome.term == "a:h3.example.net"


def test_two_void_lookups_are_allowed_the_third_is_a_permerror() -> None:
    two = check(spf("v=spf1 a:nx1.example.net mx:nx2.example.net ?all"))
    assert (two.result, two.voids) == (SpfResult.NEUTRAL, 2)
    three = check(spf("v=spf1 a:nx1.example.net mx:nx2.example.net exists:nx3.example.net ?all"))
    assert (three.result, three.voids, three.term) == (SpfResult.PERMERROR, 3, "exists:nx3.example.net")
    assert "void" in (three.reason or "")


def test_nodata_and_ptr_are_void_but_not_mx_host_lookups() -> None:
    client = spf("v=spf1 a mx ptr ?all", **{"example.com|MX": ["10 mx1.example.com.", "20 mx2.example.com."],
                                             "mx1.example.com|AAAA": ["2001:db8::1"],
                                             "mx2.example.com|AAAA": ["2001:db8::2"]})
    # IPv4: A of example.com is NODATA (void 1), MX hosts have no A (not void), no PTR name (void 2)
    outcome = check(client)
    assert (outcome.result, outcome.voids, outcome.lookups) == (SpfResult.NEUTRAL, 2, 3)


def test_more_than_ten_mx_names_is_a_permerror() -> None:
    mx = [f"{i} mx{i}.example.com." for i in range(11)]
    outcome = check(spf("v=spf1 mx -all", **{"example.com|MX": mx}))
    assert outcome.result is SpfResult.PERMERROR and "11 MX" in (outcome.reason or "")


def test_only_the_first_ten_ptr_names_are_looked_at() -> None:
    names = [f"h{i}.example.org." for i in range(10)] + ["mail.example.com."]
    client = spf("v=spf1 ptr -all", **{"10.2.0.192.in-addr.arpa|PTR": names,
                                       "mail.example.com|A": ["192.0.2.10"]})
    assert check(client).result is SpfResult.FAIL
    assert ("mail.example.com", "A") not in client.queries


def test_null_mx_is_no_mail_host() -> None:
    client = spf("v=spf1 mx -all", **{"example.com|MX": ["0 ."]})
    assert check(client).result is SpfResult.FAIL
    assert set(client.queries) == {("example.com", "TXT"), ("example.com", "MX")}


def test_explanation_lookup_is_not_counted() -> None:
    text, records = _a_terms(10)
    client = zone({("example.com", "TXT"): [text.replace("-all", "-all exp=why.example.com")], **records,
                   ("why.example.com", "TXT"): ["%{i} is not one of %{d}'s senders"]})
    outcome = check(client)
    assert outcome.result is SpfResult.FAIL and outcome.lookups == 10
    assert outcome.explanation == "192.0.2.10 is not one of example.com's senders"


# --------------------------------------------------------------------------- trace and outcome fields


def test_trace_lists_questions_and_terms_in_order() -> None:
    client = zone({
        ("example.com", "TXT"): ["v=spf1 ip4:198.51.100.0/24 include:_spf.example.net -all"],
        ("_spf.example.net", "TXT"): ["v=spf1 a:mail.example.net ~all"],
        ("mail.example.net", "A"): ["192.0.2.10"],
    })
    outcome = check(client)
    assert outcome.result is SpfResult.PASS
    assert outcome.trace == (
        TraceLookup("example.com", "TXT", DnsStatus.OK, ("v=spf1 ip4:198.51.100.0/24 include:_spf.example.net -all",)),
        TraceTerm("example.com", "ip4:198.51.100.0/24", False),
        TraceLookup("_spf.example.net", "TXT", DnsStatus.OK, ("v=spf1 a:mail.example.net ~all",)),
        TraceLookup("mail.example.net", "A", DnsStatus.OK, ("192.0.2.10",)),
        TraceTerm("_spf.example.net", "a:mail.example.net", True),
        TraceTerm("example.com", "include:_spf.example.net", True),
    )
    assert (outcome.term, outcome.domain, outcome.lookups, outcome.voids) == \
        ("include:_spf.example.net", "example.com", 2, 0)
    assert [t.term for t in outcome.steps] == ["ip4:198.51.100.0/24", "a:mail.example.net", "include:_spf.example.net"]
    assert [(q.name, q.rdtype) for q in outcome.lookups_done] == \
        [("example.com", "TXT"), ("_spf.example.net", "TXT"), ("mail.example.net", "A")]


def test_a_permerror_names_the_nested_record_and_term() -> None:
    client = zone({("example.com", "TXT"): ["v=spf1 include:bad.example.net -all"],
                   ("bad.example.net", "TXT"): ["v=spf1 ip4:192.0.2.300 -all"]})
    outcome = check(client)
    assert (outcome.result, outcome.domain, outcome.term) == \
        (SpfResult.PERMERROR, "bad.example.net", "ip4:192.0.2.300")


def test_none_results() -> None:
    assert check(zone({})).result is SpfResult.NONE  # NXDOMAIN
    assert check(zone({("example.com", "TXT"): ["not spf"]})).result is SpfResult.NONE
    outcome = check(zone({}), domain="localhost")
    assert outcome.result is SpfResult.NONE and "§4.3" in (outcome.reason or "") and outcome.trace == ()


def test_multiple_records_and_include_of_nothing_are_permerrors() -> None:
    assert check(zone({("example.com", "TXT"): ["v=spf1 -all", "V=SPF1 +all"]})).result is SpfResult.PERMERROR
    assert check(spf("v=spf1 include:nothing.example.net -all")).result is SpfResult.PERMERROR
    assert check(spf("v=spf1 redirect=nothing.example.net")).result is SpfResult.PERMERROR


def test_include_through_a_cname() -> None:
    client = zone({("example.com", "TXT"): ["v=spf1 include:alias.example.net -all"],
                   ("alias.example.net", "CNAME"): ["real.example.org."],
                   ("real.example.org", "TXT"): ["v=spf1 ip4:192.0.2.0/24 -all"]})
    assert check(client).result is SpfResult.PASS


def test_ipv4_mapped_addresses_are_ipv4() -> None:
    client = spf("v=spf1 ip6:::ffff:0:0/96 ip4:192.0.2.10 -all")
    outcome = check(client, ip="::ffff:192.0.2.10")
    assert (outcome.result, outcome.term) == (SpfResult.PASS, "ip4:192.0.2.10")
    assert check(client, ip=ipaddress.ip_address("::ffff:192.0.2.11")).result is SpfResult.FAIL  # type: ignore[arg-type]


def test_ipv6_a_and_mx_use_aaaa_and_cidr6() -> None:
    client = spf("v=spf1 a//64 -all", **{"example.com|AAAA": ["2001:db8:1:2::1"], "example.com|A": ["192.0.2.1"]})
    assert check(client, ip="2001:db8:1:2:ffff::9").result is SpfResult.PASS
    assert check(client, ip="2001:db8:1:3::1").result is SpfResult.FAIL
    assert ("example.com", "AAAA") in client.queries


# --------------------------------------------------------------------------- timeouts → temperror


def test_timeouts_are_temperrors() -> None:
    assert check(zone({}, timeouts=["example.com"])).result is SpfResult.TEMPERROR
    a = check(spf("v=spf1 a:slow.example.net -all"), ip="192.0.2.1")
    assert a.result is SpfResult.FAIL  # control: NXDOMAIN is no match
    slow = zone({("example.com", "TXT"): ["v=spf1 a:slow.example.net -all"]}, timeouts=["slow.example.net"])
    outcome = check(slow)
    assert (outcome.result, outcome.term) == (SpfResult.TEMPERROR, "a:slow.example.net")
    assert outcome.trace[-1] == TraceLookup("slow.example.net", "A", DnsStatus.TIMEOUT)
    servfail = zone({("example.com", "TXT"): ["v=spf1 include:broken.example.net -all"]},
                    servfail=["broken.example.net"])
    assert check(servfail).result is SpfResult.TEMPERROR


def test_a_timeout_in_ptr_or_explanation_is_not_an_error() -> None:
    client = zone({("example.com", "TXT"): ["v=spf1 ptr -all exp=why.example.com"]},
                  timeouts=["10.2.0.192.in-addr.arpa", "why.example.com"])
    outcome = check(client)
    assert (outcome.result, outcome.explanation) == (SpfResult.FAIL, None)


class SlowClient:
    """Every answer takes ``delay`` seconds."""

    def __init__(self, inner: StaticDnsClient, delay: float) -> None:
        self.inner, self.delay = inner, delay

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        await asyncio.sleep(self.delay)
        return await self.inner.query(name, rdtype)


def test_the_whole_check_has_a_deadline() -> None:
    text, records = _a_terms(10)
    client = SlowClient(zone({("example.com", "TXT"): [text], **records}), 0.02)
    started = time.monotonic()
    outcome = check(client, limits=SpfLimits(timeout=0.05))
    assert outcome.result is SpfResult.TEMPERROR and "§4.6.4" in (outcome.reason or "")
    assert time.monotonic() - started < 0.5
    assert check(client, limits=SpfLimits(timeout=None)).result is SpfResult.FAIL


# --------------------------------------------------------------------------- evaluate_record


def test_evaluate_record_does_not_fetch_the_domain_record() -> None:
    client = zone({("example.com", "TXT"): ["v=spf1 -all"], ("_spf.example.net", "TXT"): ["v=spf1 ip4:192.0.2.0/24"]})
    candidate = SpfRecord.from_text("v=spf1 include:_spf.example.net -all")
    for record in (candidate, candidate.to_text()):
        outcome = asyncio.run(evaluate_record(record, "192.0.2.10", "example.com", SENDER, client=client))
        assert (outcome.result, outcome.term) == (SpfResult.PASS, "include:_spf.example.net")
    assert ("example.com", "TXT") not in client.queries


def test_evaluate_record_with_a_bad_text_is_a_permerror() -> None:
    outcome = asyncio.run(evaluate_record("v=spf1 a:foo-bar -all", "192.0.2.10", "example.com", SENDER,
                                          client=zone({})))
    assert (outcome.result, outcome.term) == (SpfResult.PERMERROR, "a:foo-bar")
    assert "§7.1" in (outcome.reason or "")


def test_evaluate_record_over_a_layered_zone() -> None:
    live = zone({("example.com", "TXT"): ["v=spf1 -all"], ("example.com", "MX"): ["10 mx.example.com."],
                 ("mx.example.com", "A"): ["192.0.2.25"]})
    candidate = zone({("_s1.example.com", "TXT"): ["v=spf1 ip4:198.51.100.0/24 mx:example.com -all"]})
    client = candidate.overlay(live)
    for ip, result in (("192.0.2.25", SpfResult.PASS), ("198.51.100.7", SpfResult.PASS),
                       ("203.0.113.1", SpfResult.SOFTFAIL)):
        outcome = asyncio.run(evaluate_record("v=spf1 include:_s1.example.com ~all", ip, "example.com", SENDER,
                                              client=client))
        assert outcome.result is result


# --------------------------------------------------------------------------- identities


def test_spf_identity() -> None:
    assert spf_identity("alice@example.com", "mx.example.org") == ("example.com", "alice@example.com")
    assert spf_identity("<alice@example.com>", "mx.example.org") == ("example.com", "alice@example.com")
    assert spf_identity("", "mx.example.org") == ("mx.example.org", "postmaster@mx.example.org")
    assert spf_identity("<>", "mx.example.org") == ("mx.example.org", "postmaster@mx.example.org")


def test_check_mail_from_uses_helo_for_the_null_sender() -> None:
    client = zone({("mx.example.org", "TXT"): ["v=spf1 a -all"], ("mx.example.org", "A"): ["192.0.2.10"],
                   ("example.com", "TXT"): ["v=spf1 -all"]})
    assert asyncio.run(check_mail_from("192.0.2.10", "", "mx.example.org", client=client)).result is SpfResult.PASS
    outcome = asyncio.run(check_mail_from("192.0.2.10", "a@example.com", "mx.example.org", client=client))
    assert outcome.result is SpfResult.FAIL


def test_empty_local_part_is_postmaster() -> None:
    client = spf("v=spf1 -all exp=why.example.com", **{"why.example.com|TXT": ["%{s} %{l} %{o}"]})
    outcome = check(client, sender="@example.com")
    assert outcome.explanation == "postmaster@example.com postmaster example.com"


@pytest.mark.parametrize("ip", ["192.0.2.10", "2001:db8::10"])
def test_default_result_is_neutral(ip: str) -> None:
    outcome = check(spf("v=spf1 ip4:198.51.100.1"), ip=ip)
    assert (outcome.result, outcome.term, outcome.explanation) == (SpfResult.NEUTRAL, None, None)
