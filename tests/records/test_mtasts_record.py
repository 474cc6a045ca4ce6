"""MTA-STS TXT record and policy file (RFC 8461 §3.1, §3.2)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.mtasts import (
    Mode,
    MtaStsPolicy,
    MtaStsRecord,
    policy_id,
    policy_url,
    record_name,
)

RFC_POLICY = "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n" \
             "mx: backupmx.example.com\r\nmax_age: 604800\r\n"


def test_record_round_trip_and_variants() -> None:
    record = MtaStsRecord("20160831085700Z")
    assert record.to_text() == "v=STSv1; id=20160831085700Z"
    assert MtaStsRecord.from_text(record.to_text()) == record
    for text in ("v=STSv1; id=20160831085700Z;", "v=STSv1;id=20160831085700Z", "v=STSv1; id=20160831085700Z; ext=1"):
        assert MtaStsRecord.from_text(text) == record


@pytest.mark.parametrize(("text", "tag"), [
    ("id=abc", "v"),
    ("v=STSv2; id=abc", "v"),
    ("v=stsv1; id=abc", "v"),
    ("v=STSv1", "id"),
    ("v=STSv1; id=", "id"),
    ("v=STSv1; id=" + "a" * 33, "id"),
    ("v=STSv1; id=2016-08-31", "id"),
    ("v=STSv1; id=a; id=b", "id"),
])
def test_record_errors_name_their_tag(text: str, tag: str) -> None:
    with pytest.raises(RecordError) as info:
        MtaStsRecord.from_text(text)
    assert info.value.tag == tag


def test_names() -> None:
    assert record_name("Example.com.") == "_mta-sts.example.com"
    assert policy_url("example.com") == "https://mta-sts.example.com/.well-known/mta-sts.txt"


def test_policy_id_from_utc_time() -> None:
    when = datetime(2026, 12, 4, 19, 5, 6, tzinfo=timezone(timedelta(hours=1)))
    assert policy_id(when) == "20261204180506"
    MtaStsRecord(policy_id(datetime.now(UTC)))
    with pytest.raises(ValueError):
        policy_id(datetime(2026, 12, 4))  # a naive time is refused


def test_policy_parses_rfc_example_and_round_trips() -> None:
    policy = MtaStsPolicy.from_text(RFC_POLICY)
    assert policy == MtaStsPolicy(Mode.ENFORCE, ("mail.example.com", "*.example.net", "backupmx.example.com"), 604800)
    assert policy.to_text() == RFC_POLICY
    assert MtaStsPolicy.from_text(policy.to_text()) == policy


def test_policy_accepts_lf_any_order_and_unknown_fields() -> None:
    text = "mode: testing\nmx: mx1.example.com\nversion: STSv1  \nfuture_field: x\nmax_age:86400"
    policy = MtaStsPolicy.from_text(text)
    assert policy == MtaStsPolicy(Mode.TESTING, ("mx1.example.com",), 86400)
    assert policy.to_text() == "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmax_age: 86400\r\n"


def test_mode_none_needs_no_mx() -> None:
    policy = MtaStsPolicy.from_text("version: STSv1\nmode: none\nmax_age: 86400\n")
    assert policy.mx == () and policy.mode is Mode.NONE
    assert MtaStsPolicy.from_text(policy.to_text()) == policy


@pytest.mark.parametrize(("text", "tag"), [
    ("mode: enforce\nmx: a.example.com\nmax_age: 1", "version"),
    ("version: STSv2\nmode: enforce\nmx: a.example.com\nmax_age: 1", "version"),
    ("version: STSv1\nmx: a.example.com\nmax_age: 1", "mode"),
    ("version: STSv1\nmode: Enforce\nmx: a.example.com\nmax_age: 1", "mode"),
    ("version: STSv1\nmode: enforce\nmode: testing\nmx: a.example.com\nmax_age: 1", "mode"),
    ("version: STSv1\nmode: enforce\nmx: a.example.com", "max_age"),
    ("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 31557601", "max_age"),
    ("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: -1", "max_age"),
    ("version: STSv1\nmode: enforce\nmx: a.example.com\nmax_age: 1w", "max_age"),
    ("version: STSv1\nmode: enforce\nmax_age: 1", "mx"),
    ("version: STSv1\nmode: enforce\nmx: *example.com\nmax_age: 1", "mx"),
    ("version: STSv1\nmode: enforce\nmx: a.*.example.com\nmax_age: 1", "mx"),
    ("version: STSv1\nmode: enforce\nmx: a.example.com\nmx: A.example.com\nmax_age: 1", "mx"),
    ("version: STSv1\nmode: enforce\nmx:\nmax_age: 1", "mx"),
    ("version: STSv1\nmode enforce\nmx: a.example.com\nmax_age: 1", None),
])
def test_policy_errors_name_their_field(text: str, tag: str | None) -> None:
    with pytest.raises(RecordError) as info:
        MtaStsPolicy.from_text(text)
    assert info.value.tag == tag
    assert "RFC 8461" in info.value.rule


def test_mx_matching() -> None:
    policy = MtaStsPolicy.from_text(RFC_POLICY)
    assert policy.matches("mail.example.com")
    assert policy.matches("MAIL.example.com.")
    assert policy.matches("mx1.example.net")
    assert not policy.matches("a.b.example.net")  # '*' is exactly one label (RFC 8461 §4.1)
    assert not policy.matches("example.net")
    assert not policy.matches("other.example.com")
