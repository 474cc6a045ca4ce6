"""SPF record values (RFC 7208): parsing, canonical text, round trips, syntax errors, helpers."""

from __future__ import annotations

import ipaddress

import pytest

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.spf import (
    Macro,
    MacroContext,
    MacroLetter,
    MacroString,
    Mechanism,
    MechanismKind,
    Modifier,
    ModifierKind,
    Qualifier,
    SpfRecord,
    SpfSyntaxError,
    is_spf_record,
    parse_domain_spec,
)

# (as published, canonical)
CANONICAL = [
    ("v=spf1", "v=spf1"),
    ("v=spf1 -all", "v=spf1 -all"),
    ("V=SPF1  +a   MX ~All ", "v=spf1 a mx ~all"),
    ("v=spf1 ip4:192.0.2.1 ip4:192.0.2.1/32 ip4:192.0.2.77/24 ip4:0.0.0.0/0",
     "v=spf1 ip4:192.0.2.1 ip4:192.0.2.1 ip4:192.0.2.0/24 ip4:0.0.0.0/0"),
    ("v=spf1 ip6:2001:DB8::1 ip6:2001:db8:0:0::/48 ip6:::1.1.1.1/0",
     "v=spf1 ip6:2001:db8::1 ip6:2001:db8::/48 ip6:::/0"),
    # how an IPv4-mapped address is written is the ipaddress module's (it changed in Python 3.13)
    ("v=spf1 ip6:::FFFF:1.2.3.4", f"v=spf1 ip6:{ipaddress.IPv6Address('::ffff:1.2.3.4')}"),
    ("v=spf1 a/24//64 mx:mail.example.com/32//128 a:example.com//0 mx/0",
     "v=spf1 a/24//64 mx:mail.example.com a:example.com//0 mx/0"),
    ("v=spf1 include:_spf.google.com ?include:%{d2}._spf.example.net -all",
     "v=spf1 include:_spf.google.com ?include:%{d2}._spf.example.net -all"),
    ("v=spf1 ptr ptr:Example.COM exists:%{ir}.%{l1r-}.lp._spf.%{d} -all",
     "v=spf1 ptr ptr:Example.COM exists:%{ir}.%{l1r-}.lp._spf.%{d} -all"),
    ("v=spf1 REDIRECT=_spf.example.com Exp=explain._spf.%{d} Moo.Cow-far_out=man:dog/cat%{c}",
     "v=spf1 redirect=_spf.example.com exp=explain._spf.%{d} moo.cow-far_out=man:dog/cat%{c}"),
    ("v=spf1 a:foo:bar/baz.example.com a:macro%%percent%_%_space%-url.example.com a:x.com%%",
     "v=spf1 a:foo:bar/baz.example.com a:macro%%percent%_%_space%-url.example.com a:x.com%%"),
    ("v=spf1 default=pass foo= a:foo.example.xn--zckzah",
     "v=spf1 default=pass foo= a:foo.example.xn--zckzah"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical_text_and_round_trip(text: str, canonical: str) -> None:
    record = SpfRecord.from_text(text)
    assert record.to_text() == canonical
    assert str(record) == canonical
    again = SpfRecord.from_text(record.to_text())
    assert again == record and hash(again) == hash(record)
    assert again.to_text() == canonical


def test_structure_of_a_parsed_record() -> None:
    record = SpfRecord.from_text("v=spf1 -ip4:192.0.2.0/24 ~a:mail.example.com/28//64 "
                                 "include:_spf.example.net redirect=other.example exp=why.%{d}")
    ip4, a, include = record.mechanisms
    assert ip4 == Mechanism(MechanismKind.IP4, Qualifier.FAIL, network=ipaddress.ip_network("192.0.2.0/24"))
    assert (a.kind, a.qualifier, a.domain_spec, a.cidr4, a.cidr6) == \
        (MechanismKind.A, Qualifier.SOFTFAIL, "mail.example.com", 28, 64)
    assert include.domain_spec == "_spf.example.net" and include.target is not None
    assert include.target.literal == "_spf.example.net"
    assert record.redirect == Modifier("redirect", "other.example")
    assert record.explanation is not None and record.explanation.kind is ModifierKind.EXP
    assert record.explanation.uses_macros
    assert [t.to_text() for t in record.terms][-2:] == ["redirect=other.example", "exp=why.%{d}"]


def test_build_records_from_values() -> None:
    record = SpfRecord((
        Mechanism(MechanismKind.IP6, network=ipaddress.ip_network("2001:db8::/32")),
        Mechanism(MechanismKind.MX, cidr4=24),
        Mechanism(MechanismKind.INCLUDE, domain_spec="spf.protection.outlook.com"),
        Mechanism(MechanismKind.ALL, Qualifier.SOFTFAIL),
    ))
    assert record.to_text() == "v=spf1 ip6:2001:db8::/32 mx/24 include:spf.protection.outlook.com ~all"
    assert SpfRecord.from_text(record.to_text()) == record


@pytest.mark.parametrize(("text", "count"), [
    ("v=spf1 -all", 0),
    ("v=spf1 ip4:192.0.2.1 ip6:2001:db8::/32 -all", 0),
    ("v=spf1 a mx ptr exists:%{i}.x.example include:a.example include:b.example -all", 6),
    ("v=spf1 a redirect=x.example", 2),
    ("v=spf1 a redirect=x.example ?all", 1),  # RFC 7208 §6.1: redirect is ignored with an "all"
    ("v=spf1 exp=why.example -all", 0),  # exp is not a counted term
])
def test_dns_lookup_terms(text: str, count: int) -> None:
    assert SpfRecord.from_text(text).dns_lookup_terms() == count


def test_uses_macros() -> None:
    assert not SpfRecord.from_text("v=spf1 a:x.example%%%_ include:y.example -all").uses_macros
    assert SpfRecord.from_text("v=spf1 exists:%{i}._spf.example.com -all").uses_macros
    assert SpfRecord.from_text("v=spf1 -all exp=%{d}.why.example").uses_macros
    mechanism = SpfRecord.from_text("v=spf1 a:%{d2}").mechanisms[0]
    assert mechanism.uses_macros and mechanism.needs_dns


def test_macro_strings_parse_into_parts() -> None:
    spec = parse_domain_spec("%{ir}.%{v}._spf.%{L2r+-}.%{d}x.example%%%_%-")
    assert spec.parts == (
        Macro(MacroLetter.IP, reverse=True), ".", Macro(MacroLetter.IP_VERSION), "._spf.",
        Macro(MacroLetter.LOCAL_PART, 2, True, "+-", url_escape=True), ".", Macro(MacroLetter.DOMAIN),
        "x.example% %20",
    )
    assert [p.to_text() for p in spec.parts if isinstance(p, Macro)] == ["%{ir}", "%{v}", "%{L2r+-}", "%{d}"]
    assert spec.literal is None and spec.uses_macros
    constant = parse_domain_spec("a%%b.example.com")
    assert constant.literal == "a%b.example.com" and not constant.uses_macros
    explanation = MacroString.parse("Mail from %{c} refused; see %{r} at %{t}", MacroContext.EXPLANATION)
    assert [p.letter for p in explanation.parts if isinstance(p, Macro)] == \
        [MacroLetter.CLIENT_IP, MacroLetter.RECEIVER, MacroLetter.TIMESTAMP]


def test_is_spf_record() -> None:
    assert is_spf_record("v=spf1") and is_spf_record("V=SpF1 -all") and is_spf_record("v=spf1  a")
    assert not is_spf_record("v=spf10") and not is_spf_record("v=spf1-all") and not is_spf_record("spf2.0/pra")
    assert not is_spf_record(" v=spf1 -all")


# (record, the term named in the error, a fragment of the rule)
ERRORS = [
    ("v=spf1 ip4:1.2.3.4 -all moo", "moo", "§12"),
    ("v=spf1 moo.cow/far_out=man:dog/cat", "moo.cow/far_out=man:dog/cat", "§12"),
    ("v=spf1 =all", "=all", "§12"),
    ("v=spf1 1up=foo", "1up=foo", "§12"),
    ("v=spf1 redirect:t2.example.com", "redirect:t2.example.com", "§12"),
    ("v=spf1 -all.", "-all.", "§5.1"),
    ("v=spf1 -all/8", "-all/8", "§5.1"),
    ("v=spf1 include", "include", "§5.2"),
    ("v=spf1 include:", "include:", "must not be empty"),
    ("v=spf1 include:ip5.example.com/24", "include:ip5.example.com/24", "§7.1"),
    ("v=spf1 exists", "exists", "§5.7"),
    ("v=spf1 ptr/0", "ptr/0", "§5"),
    ("v=spf1 a:foo-bar", "a:foo-bar", "top label"),
    ("v=spf1 a:museum.", "a:museum.", "top label"),
    ("v=spf1 a:111.222.33.44", "a:111.222.33.44", "all-numeric"),
    ("v=spf1 a:example.-com", "a:example.-com", "top label"),
    ("v=spf1 a:example.com:8080", "a:example.com:8080", "top label"),
    ("v=spf1 a/33", "a/33", "0 to 32"),
    ("v=spf1 mx//129", "mx//129", "0 to 128"),
    ("v=spf1 a/24/64", "a/24/64", "§5.3"),
    ("v=spf1 ip4", "ip4", "§5.6"),
    ("v=spf1 ip4:1.2.3", "ip4:1.2.3", "§5.6"),
    ("v=spf1 ip4:1.2.03.4", "ip4:1.2.03.4", "§5.6"),
    ("v=spf1 ip4:1.2.3.4/032", "ip4:1.2.3.4/032", "§5.6"),
    ("v=spf1 ip4:1.2.3.4//32", "ip4:1.2.3.4//32", "§5.6"),
    ("v=spf1 ip4:1.2.3.4:8080", "ip4:1.2.3.4:8080", "§5.6"),
    ("v=spf1 ip4:2001:db8::1", "ip4:2001:db8::1", "§5.6"),
    ("v=spf1 ip6::CAFE::BABE", "ip6::CAFE::BABE", "§5.6"),
    ("v=spf1 ip6:fe80::1%eth0", "ip6:fe80::1%eth0", "§5.6"),
    ("v=spf1 ip6:::1/129", "ip6:::1/129", "§5.6"),
    ("v=spf1 exp=", "exp=", "must not be empty"),
    ("v=spf1 exp=-all", "exp=-all", "§7.1"),
    ("v=spf1 redirect=a.example redirect=b.example", "redirect=b.example", "§6"),
    ("v=spf1 exp=a.example exp=b.example", "exp=b.example", "§6"),
    ("v=spf1 -exists:%(ir).sbl.example.com", "-exists:%(ir).sbl.example.com", "§7.1"),
    ("v=spf1 exists:foo%.sbl.example.com", "exists:foo%.sbl.example.com", "§7.1"),
    ("v=spf1 a:%{a}.example.com", "a:%{a}.example.com", "unknown macro letter"),
    ("v=spf1 exp=%{r}.example.com", "exp=%{r}.example.com", "§7.2"),
    ("v=spf1 a:%{d0}.example.com", "a:%{d0}.example.com", "nonzero"),
    ("v=spf1 foo=%abc", "foo=%abc", "§7.1"),
    ("v=spf1 a:ctrl.example.com\rptr -all", "a:ctrl.example.com\rptr", "visible ASCII"),
    ("v=spf1 a:foo.example.com\0", "a:foo.example.com\0", "visible ASCII"),
    ("v=spf1 a:\xef\xbb\xbfgarbage.example.net", "a:\xef\xbb\xbfgarbage.example.net", "visible ASCII"),
    ("v=spf1 \x96all", "\x96all", "§12"),
    ("v=spf1 ip4:192.0.2.5\n include:x.example ~all", "ip4:192.0.2.5\n", "§5.6"),
    ("v=spf10", None, "§4.5"),
    ("spf2.0/mfrom -all", None, "§4.5"),
]


@pytest.mark.parametrize(("text", "term", "rule"), ERRORS)
def test_syntax_errors_name_the_term_and_the_rule(text: str, term: str | None, rule: str) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        SpfRecord.from_text(text)
    error = caught.value
    assert isinstance(error, RecordError) and isinstance(error, DmarcpilotError)
    assert error.term == term and error.tag == term
    assert rule in error.rule and "RFC 7208" in error.rule
    assert rule in str(error) and (term is None or repr(term) in str(error))


@pytest.mark.parametrize("build", [
    lambda: Mechanism(MechanismKind.ALL, domain_spec="example.com"),
    lambda: Mechanism(MechanismKind.INCLUDE),
    lambda: Mechanism(MechanismKind.IP4),
    lambda: Mechanism(MechanismKind.IP4, network=ipaddress.ip_network("2001:db8::/32")),
    lambda: Mechanism(MechanismKind.A, network=ipaddress.ip_network("192.0.2.0/24")),
    lambda: Mechanism(MechanismKind.PTR, cidr4=24),
    lambda: Mechanism(MechanismKind.A, cidr4=33),
    lambda: Mechanism(MechanismKind.MX, domain_spec="not-a-domain"),
    lambda: Modifier("1bad", "x"),
    lambda: Modifier("redirect", ""),
])
def test_values_validate_on_construction(build: object) -> None:
    with pytest.raises(SpfSyntaxError):
        build()  # type: ignore[operator]


def test_full_length_cidrs_are_the_default() -> None:
    assert Mechanism(MechanismKind.A, cidr4=32, cidr6=128) == Mechanism(MechanismKind.A)
    assert Mechanism(MechanismKind.MX, cidr4=32).to_text() == "mx"


def test_values_are_immutable() -> None:
    mechanism = Mechanism(MechanismKind.ALL)
    with pytest.raises(AttributeError):
        mechanism.qualifier = Qualifier.FAIL  # type: ignore[misc]
