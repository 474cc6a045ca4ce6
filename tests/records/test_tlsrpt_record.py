"""TLS-RPT record (RFC 8460 §3)."""

from __future__ import annotations

import pytest

from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.tlsrpt import TlsRptRecord, record_name


def test_round_trip() -> None:
    record = TlsRptRecord(("mailto:tlsrpt@example.com", "https://reporting.example.com/v1/tlsrpt"))
    assert record.to_text() == "v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reporting.example.com/v1/tlsrpt"
    assert TlsRptRecord.from_text(record.to_text()) == record


@pytest.mark.parametrize("text", [
    "v=TLSRPTv1;rua=mailto:reports@example.com",
    "v=TLSRPTv1; rua=mailto:reports@example.com;",
    "v=TLSRPTv1 ; rua=mailto:reports@example.com ; ext=1",
])
def test_variants(text: str) -> None:
    assert TlsRptRecord.from_text(text) == TlsRptRecord(("mailto:reports@example.com",))


def test_list_with_spaces() -> None:
    record = TlsRptRecord.from_text("v=TLSRPTv1; rua=mailto:a@example.com , https://r.example.com/x")
    assert record.rua == ("mailto:a@example.com", "https://r.example.com/x")


@pytest.mark.parametrize(("text", "tag"), [
    ("rua=mailto:a@example.com", "v"),
    ("v=TLSRPTv2; rua=mailto:a@example.com", "v"),
    ("v=TLSRPTv1", "rua"),
    ("v=TLSRPTv1; rua=", "rua"),
    ("v=TLSRPTv1; rua=http://r.example.com/", "rua"),
    ("v=TLSRPTv1; rua=a@example.com", "rua"),
    ("v=TLSRPTv1; rua=mailto:nobody", "rua"),
    ("v=TLSRPTv1; rua=https:///x", "rua"),
    ("v=TLSRPTv1; rua=mailto:a@example.com,,mailto:b@example.com", "rua"),
    ("v=TLSRPTv1; rua=mailto:a@example.com,mailto:a@example.com", "rua"),
    ("v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com", "rua"),
])
def test_errors_name_their_tag(text: str, tag: str) -> None:
    with pytest.raises(RecordError) as info:
        TlsRptRecord.from_text(text)
    assert info.value.tag == tag
    assert "RFC 8460" in info.value.rule


def test_record_name() -> None:
    assert record_name("Example.com") == "_smtp._tls.example.com"
