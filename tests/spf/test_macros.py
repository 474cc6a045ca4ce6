"""Macro expansion (RFC 7208 §7): the RFC's own examples (§7.4) and the letters the suite covers lightly."""

from __future__ import annotations

import asyncio
import ipaddress
import time

import pytest

from dmarcpilot.dnsclient import StaticDnsClient
from dmarcpilot.records.spf import MacroContext, MacroString, parse_domain_spec
from dmarcpilot.spf import SpfLimits, SpfResult, check_host
from dmarcpilot.spf.context import CheckContext
from dmarcpilot.spf.macros import expand, expand_domain, finish_domain

SENDER = "strong-bad@email.example.com"
DOMAIN = "email.example.com"


def context(ip: str = "192.0.2.3", client: StaticDnsClient | None = None, sender: str = SENDER) -> CheckContext:
    return CheckContext(client or StaticDnsClient(), SpfLimits(), ipaddress.ip_address(ip), sender,
                        "mx.example.org", "receiver.example.net")


def run(text: str, ctx: CheckContext | None = None, explanation: bool = False) -> str:
    spec = MacroString.parse(text, MacroContext.EXPLANATION) if explanation else parse_domain_spec(text)
    return asyncio.run(expand(spec, ctx or context(), DOMAIN))


# RFC 7208 §7.4, sender strong-bad@email.example.com, IPv4 192.0.2.3
@pytest.mark.parametrize(("macro", "expansion"), [
    ("%{s}", "strong-bad@email.example.com"),
    ("%{o}", "email.example.com"),
    ("%{d}", "email.example.com"),
    ("%{d4}", "email.example.com"),
    ("%{d3}", "email.example.com"),
    ("%{d2}", "example.com"),
    ("%{d1}", "com"),
    ("%{dr}", "com.example.email"),
    ("%{d2r}", "example.email"),
    ("%{l}", "strong-bad"),
    ("%{l-}", "strong.bad"),
    ("%{lr}", "strong-bad"),
    ("%{lr-}", "bad.strong"),
    ("%{l1r-}", "strong"),
    ("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"),
    ("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"),
    ("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"),
    ("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"),
    ("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"),
    ("%{h}", "mx.example.org"),
    ("%{d127}", "email.example.com"),
])
def test_rfc_examples(macro: str, expansion: str) -> None:
    assert run(macro) == expansion


def test_ipv6_i_macro_is_dotted_nibbles() -> None:
    # RFC 7208 §7.4 writes them in lower case; the test suite (v-macro-ip6) expects upper case,
    # which is what we produce. DNS names compare case-insensitively (RFC 4343).
    out = run("%{ir}.%{v}._spf.%{d2}", context("2001:db8::cb01"))
    assert out.lower() == "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
    assert run("%{c}", context("2001:DB8::CB01"), explanation=True) == "2001:db8::cb01"


def test_upper_case_macros_are_url_escaped() -> None:
    ctx = context(sender="~jack&jill=up-a_b3.c@e8.example.com")
    assert run("%{L}", ctx) == "~jack%26jill%3Dup-a_b3.c"
    assert run("%{l}", ctx) == "~jack&jill=up-a_b3.c"
    assert run("%{S}", context()) == "strong-bad%40email.example.com"


def test_escapes() -> None:
    assert run("a%%b%_c%-d.example.com") == "a%b c%20d.example.com"


def test_explanation_only_letters() -> None:
    assert run("%{c} via %{r}", explanation=True) == "192.0.2.3 via receiver.example.net"
    stamp = int(run("%{t}", explanation=True))
    assert abs(stamp - time.time()) < 5


def test_multiple_delimiters() -> None:
    ctx = context(sender="foo-bar+zip+quux@example.com")
    assert run("%{l2r+-}", ctx) == "bar.foo"
    assert run("%{l+}", ctx) == "foo-bar.zip.quux"


def test_p_macro_prefers_the_domain_then_subdomains_and_says_unknown_otherwise() -> None:
    zone = StaticDnsClient({
        ("3.2.0.192.in-addr.arpa", "PTR"): ["mx.other.example.", "mail.email.example.com.", "email.example.com."],
        ("mx.other.example", "A"): ["192.0.2.3"],
        ("mail.email.example.com", "A"): ["192.0.2.3"],
        ("email.example.com", "A"): ["192.0.2.99"],  # does not validate
        ("4.2.0.192.in-addr.arpa", "PTR"): ["mx.other.example."],
    })
    assert run("%{p}", context(client=zone)) == "mail.email.example.com"
    assert run("%{p}", context("192.0.2.4", client=zone)) == "unknown"
    assert run("%{p}", context("192.0.2.5", client=zone)) == "unknown"


def test_domain_finishing() -> None:
    assert finish_domain("example.com.") == "example.com"
    long = ".".join(["a" * 60] * 5) + ".example.com"  # 316 characters
    finished = finish_domain(long)
    assert finished is not None and len(finished) <= 253 and finished.endswith(".example.com")
    assert finished == long[len(long) - len(finished):]
    assert finish_domain("a..example.com") is None
    assert finish_domain("a" * 64 + ".example.com") is None
    assert finish_domain("münchen.example") is None


def test_expand_domain_with_a_long_macro_label_gives_no_name() -> None:
    ctx = context(sender="x" * 70 + "@example.com")
    assert asyncio.run(expand_domain(parse_domain_spec("%{l}.example.com"), ctx, DOMAIN)) is None


def test_macros_in_a_check() -> None:
    zone = StaticDnsClient({
        ("example.com", "TXT"): ["v=spf1 exists:%{ir}.%{l1r-}.lp._spf.%{d} -all"],
        ("3.2.0.192.strong.lp._spf.example.com", "A"): ["127.0.0.2"],
    })
    ok = asyncio.run(check_host("192.0.2.3", "example.com", "strong-bad@example.com", client=zone))
    assert ok.result is SpfResult.PASS
    no = asyncio.run(check_host("192.0.2.3", "example.com", "weak-bad@example.com", client=zone))
    assert no.result is SpfResult.FAIL
    assert ("3.2.0.192.weak.lp._spf.example.com", "A") in zone.queries
