"""DMARC policy record: parsing, rendering, validation (RFC 9989, RFC 7489 legacy tags)."""

from __future__ import annotations

import pytest

from dmarcpilot.records.dmarc import (
    Alignment,
    DmarcRecord,
    FailureOption,
    Policy,
    PsdFlag,
    ReportFormat,
    ReportUri,
    SizeUnit,
    external_destination_records,
    record_name,
)
from dmarcpilot.records.errors import RecordError


def _org(name: str) -> str:
    """A toy organisational-domain function: the last two labels."""
    return ".".join(name.split(".")[-2:])


FULL = DmarcRecord(
    p=Policy.REJECT, sp=Policy.QUARANTINE, np=Policy.REJECT, psd=PsdFlag.NO, t=True,
    adkim=Alignment.STRICT, aspf=Alignment.RELAXED, pct=50,
    fo=(FailureOption.ANY_FAIL, FailureOption.DKIM, FailureOption.SPF), rf=(ReportFormat.AFRF,), ri=3600,
    rua=(ReportUri("mailto:dmarc@example.com"), ReportUri("mailto:agg@reports.example.net", 10, SizeUnit.MEGA)),
    ruf=(ReportUri("mailto:fail@example.com", 512),),
)


def test_full_record_renders_in_canonical_order() -> None:
    assert FULL.to_text() == (
        "v=DMARC1; p=reject; sp=quarantine; np=reject; psd=n; t=y; adkim=s; aspf=r; pct=50; fo=1:d:s; "
        "rf=afrf; ri=3600; rua=mailto:dmarc@example.com,mailto:agg@reports.example.net!10m; "
        "ruf=mailto:fail@example.com!512"
    )


@pytest.mark.parametrize("record", [
    FULL,
    DmarcRecord(),
    DmarcRecord(p=Policy.NONE),
    DmarcRecord(p=Policy.QUARANTINE, t=False, fo=(FailureOption.ALL_FAIL,)),
    DmarcRecord(rua=(ReportUri("https://reports.example.com/dmarc"),)),
    DmarcRecord(p=Policy.NONE, psd=PsdFlag.YES, pct=0, ri=0),
])
def test_round_trip(record: DmarcRecord) -> None:
    assert DmarcRecord.from_text(record.to_text()) == record


def test_defaults_not_given_are_not_rendered() -> None:
    record = DmarcRecord.from_text("v=DMARC1; p=none")
    assert record.to_text() == "v=DMARC1; p=none"
    assert record.sp is None and record.adkim is None and record.fo == ()
    assert record.effective_adkim() is Alignment.RELAXED
    assert record.effective_fo() == (FailureOption.ALL_FAIL,)
    assert not record.is_testing()


@pytest.mark.parametrize("text", [
    "v=DMARC1;p=reject;rua=mailto:d@example.com",
    "v=DMARC1; p=reject; rua=mailto:d@example.com;",
    "v = DMARC1 ;  p = reject ; rua = mailto:d@example.com ; ",
    "v=DMARC1;\tp=Reject;\trua=mailto:d@example.com",
    "V=DMARC1; P=REJECT; RUA=mailto:d@example.com",
    "v=DMARC1; p=reject;; rua=mailto:d@example.com;;",
    "v=DMARC1; p=reject; foo=bar; rua=mailto:d@example.com; x=1",
])
def test_real_world_variants(text: str) -> None:
    record = DmarcRecord.from_text(text)
    assert record == DmarcRecord(p=Policy.REJECT, rua=(ReportUri("mailto:d@example.com"),))
    assert record.to_text() == "v=DMARC1; p=reject; rua=mailto:d@example.com"


def test_uri_list_with_spaces_and_size_units() -> None:
    record = DmarcRecord.from_text("v=DMARC1; p=none; rua=mailto:a@example.com!10K , mailto:b@example.org")
    assert record.rua == (ReportUri("mailto:a@example.com", 10, SizeUnit.KILO), ReportUri("mailto:b@example.org"))
    assert record.rua[0].max_bytes == 10 * 1024
    assert record.rua[1].max_bytes is None
    assert record.rua[0].host == "example.com"


def test_uri_hosts() -> None:
    assert ReportUri("mailto:Reports@Example.COM?subject=dmarc").host == "example.com"
    assert ReportUri("mailto:a%2Bb@example.com").host == "example.com"
    assert ReportUri("https://collector.example.net/r").host == "collector.example.net"
    assert ReportUri("urn:example:x").host is None


@pytest.mark.parametrize(("text", "tag"), [
    ("p=reject", "v"),
    ("v=DMARC2; p=reject", "v"),
    ("v=dmarc1; p=reject", "v"),
    ("p=reject; v=DMARC1", "v"),
    ("v=DMARC1; p=rejct", "p"),
    ("v=DMARC1; p=", "p"),
    ("v=DMARC1; sp=block", "sp"),
    ("v=DMARC1; np=yes", "np"),
    ("v=DMARC1; psd=maybe", "psd"),
    ("v=DMARC1; t=1", "t"),
    ("v=DMARC1; adkim=strict", "adkim"),
    ("v=DMARC1; aspf=x", "aspf"),
    ("v=DMARC1; pct=101", "pct"),
    ("v=DMARC1; pct=-1", "pct"),
    ("v=DMARC1; pct=50.5", "pct"),
    ("v=DMARC1; ri=4294967296", "ri"),
    ("v=DMARC1; ri=1h", "ri"),
    ("v=DMARC1; fo=0:1", "fo"),
    ("v=DMARC1; fo=d:d", "fo"),
    ("v=DMARC1; fo=x", "fo"),
    ("v=DMARC1; rf=iodef", "rf"),
    ("v=DMARC1; rua=dmarc@example.com", "rua"),
    ("v=DMARC1; rua=mailto:example.com", "rua"),
    ("v=DMARC1; rua=mailto:a@example.com!big", "rua"),
    ("v=DMARC1; rua=mailto:a@example.com,,mailto:b@example.com", "rua"),
    ("v=DMARC1; rua=https:///path", "rua"),
    ("v=DMARC1; ruf=mailto:a@exa mple.com", "ruf"),
    ("v=DMARC1; ruf=mailto:a@-bad-.com", "ruf"),
    ("v=DMARC1; p=none; p=reject", "p"),
    ("v=DMARC1; p=none; P=reject", "p"),
    ("v=DMARC1; p reject", "p reject"),
    ("v=DMARC1; p=none; r2=x", "r2"),
])
def test_validation_errors_name_their_tag(text: str, tag: str) -> None:
    with pytest.raises(RecordError) as info:
        DmarcRecord.from_text(text)
    assert info.value.tag == tag
    assert "RFC" in info.value.rule
    assert repr(tag) in str(info.value)


def test_constructor_validates_too() -> None:
    with pytest.raises(RecordError) as info:
        DmarcRecord(pct=200)
    assert info.value.tag == "pct"
    with pytest.raises(RecordError) as info:
        DmarcRecord(fo=(FailureOption.ALL_FAIL, FailureOption.ANY_FAIL))
    assert info.value.tag == "fo"
    with pytest.raises(RecordError):
        ReportUri("mailto:a@example.com!5")


def test_non_ascii_record_is_rejected() -> None:
    with pytest.raises(RecordError):
        DmarcRecord.from_text("v=DMARC1; p=none; rua=mailto:d@exämple.com")


def test_policy_fallbacks() -> None:
    assert DmarcRecord(p=Policy.REJECT).nonexistent_subdomain_policy() is Policy.REJECT
    record = DmarcRecord(p=Policy.NONE, sp=Policy.QUARANTINE)
    assert record.subdomain_policy() is Policy.QUARANTINE
    assert record.nonexistent_subdomain_policy() is Policy.QUARANTINE
    assert DmarcRecord(p=Policy.NONE, np=Policy.REJECT).nonexistent_subdomain_policy() is Policy.REJECT
    # RFC 9989 §4.10.1: no p= acts as p=none only when rua= names a URI
    assert DmarcRecord(rua=(ReportUri("mailto:a@example.com"),)).effective_policy() is Policy.NONE
    assert DmarcRecord().effective_policy() is None


def test_record_name() -> None:
    assert record_name("Example.COM.") == "_dmarc.example.com"


def test_external_destinations_only_outside_the_org_domain() -> None:
    uris = [
        ReportUri("mailto:dmarc@example.com"),
        ReportUri("mailto:dmarc@reports.example.com"),
        ReportUri("mailto:x@red.example.net", 10, SizeUnit.MEGA),
        ReportUri("mailto:y@red.example.net"),
        ReportUri("https://collector.example.org/in"),
    ]
    pairs = external_destination_records("blue.example.com", uris, _org)
    assert pairs == (
        ("blue.example.com._report._dmarc.red.example.net", "v=DMARC1"),
        ("blue.example.com._report._dmarc.collector.example.org", "v=DMARC1"),
    )
    for _, value in pairs:
        assert DmarcRecord.from_text(value) == DmarcRecord()


def test_external_destinations_unknown_org_domain_uses_the_name() -> None:
    pairs = external_destination_records("example.com", FULL.rua, lambda name: None)
    assert pairs == (
        ("example.com._report._dmarc.reports.example.net", "v=DMARC1"),
    )


def test_external_destination_name_too_long() -> None:
    long_domain = ".".join(["a" * 60] * 3) + ".example.com"
    with pytest.raises(RecordError) as info:
        external_destination_records(long_domain, [ReportUri("mailto:r@" + "b" * 60 + ".example.net")], _org)
    assert info.value.tag == "rua"
