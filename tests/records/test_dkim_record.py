"""DKIM key record (RFC 6376 §3.6.1, RFC 8463) and TXT string splitting, on the RFCs' own keys."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dmarcpilot.records.dkim import (
    DkimKeyRecord,
    HashAlgorithm,
    KeyFlag,
    KeyType,
    ServiceType,
    selector_name,
    txt_strings,
    zone_txt,
)
from dmarcpilot.records.errors import RecordError

DATA = Path(__file__).parent.parent / "data" / "dkim"


def _txt(name: str) -> dict[str, str]:
    return json.loads((DATA / name).read_text())["txt"]  # type: ignore[no-any-return]


RFC6376 = _txt("rfc6376-appendix-a.json")["brisbane._domainkey.example.com"]
RFC8463_ED = _txt("rfc8463-appendix-a.json")["brisbane._domainkey.football.example.com"]
RFC8463_RSA = _txt("rfc8463-appendix-a.json")["test._domainkey.football.example.com"]


def test_rfc6376_key() -> None:
    record = DkimKeyRecord.from_text(RFC6376)
    assert record.key_type is KeyType.RSA and record.k is None
    assert record.key_bits == 1024
    assert isinstance(record.public_key(), rsa.RSAPublicKey)
    assert record.to_text() == RFC6376
    assert not record.revoked


def test_rfc8463_ed25519_key() -> None:
    record = DkimKeyRecord.from_text(RFC8463_ED)
    assert record.k is KeyType.ED25519
    assert record.key_bits == 256
    key = record.public_key()
    assert isinstance(key, ed25519.Ed25519PublicKey)
    assert record.to_text() == RFC8463_ED


def test_rfc8463_rsa_key() -> None:
    record = DkimKeyRecord.from_text(RFC8463_RSA)
    assert record.k is KeyType.RSA
    assert record.key_bits == 1024
    assert record.to_text() == RFC8463_RSA


@pytest.mark.parametrize("text", [RFC6376, RFC8463_ED, RFC8463_RSA])
def test_round_trip(text: str) -> None:
    record = DkimKeyRecord.from_text(text)
    assert DkimKeyRecord.from_text(record.to_text()) == record


def test_all_tags_round_trip_in_canonical_order() -> None:
    ed = DkimKeyRecord.from_text(RFC8463_ED)
    record = DkimKeyRecord(p=ed.p, k=KeyType.ED25519, h=(HashAlgorithm.SHA256,), s=(ServiceType.EMAIL,),
                           t=(KeyFlag.TESTING, KeyFlag.STRICT), n="rotated=2026-12")
    assert record.to_text() == f"v=DKIM1; h=sha256; k=ed25519; n=rotated=2026-12; s=email; t=y:s; p={ed.p}"
    assert DkimKeyRecord.from_text(record.to_text()) == record
    assert record.testing


def test_real_world_variants() -> None:
    p = DkimKeyRecord.from_text(RFC6376).p
    folded = p[:40] + " \r\n\t" + p[40:90] + " " + p[90:]
    for text in (
        f"p={p}",  # v= is optional
        f"v=DKIM1;k=rsa;p={folded};",
        f"v=DKIM1 ; k = RSA ; p = {p} ;",
        f"v=DKIM1; k=rsa; p={p}; x_future=1",
        f"v=DKIM1; h=sha256:sha512; k=rsa; s=email:tlsrpt; t=s:z; p={p}",
    ):
        record = DkimKeyRecord.from_text(text)
        assert record.p == p
        assert record.key_bits == 1024
    unknown_ignored = DkimKeyRecord.from_text(f"v=DKIM1; h=sha256:sha512; s=email:tlsrpt; t=s:z; p={p}")
    assert unknown_ignored.h == (HashAlgorithm.SHA256,)
    assert unknown_ignored.s == (ServiceType.EMAIL,)
    assert unknown_ignored.t == (KeyFlag.STRICT,)


def test_revoked_key() -> None:
    record = DkimKeyRecord.from_text("v=DKIM1; k=ed25519; p=")
    assert record.revoked and record.public_key() is None and record.key_bits is None
    assert record.to_text() == "v=DKIM1; k=ed25519; p="
    assert DkimKeyRecord.from_text(RFC6376).revoke() == DkimKeyRecord(p="")


def test_pkcs1_rsa_public_key_is_accepted() -> None:
    from cryptography.hazmat.primitives import serialization

    key = DkimKeyRecord.from_text(RFC6376).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    assert DkimKeyRecord(p=base64.b64encode(der).decode()).key_bits == 1024


@pytest.mark.parametrize(("text", "tag"), [
    ("v=DKIM1; k=rsa", "p"),
    ("v=DKIM2; p=", "v"),
    ("k=rsa; v=DKIM1; p=", "v"),
    ("v=DKIM1; k=dsa; p=", "k"),
    ("v=DKIM1; p=not base64!", "p"),
    ("v=DKIM1; p=QUJD", "p"),  # base64 of "ABC": not a DER key
    (f"v=DKIM1; k=ed25519; p={base64.b64encode(bytes(31)).decode()}", "p"),
    ("v=DKIM1; p=; p=", "p"),
    ("v=DKIM1; h=md5; p=", "h"),
    ("v=DKIM1; s=tlsrpt; p=", "s"),
    ("v=DKIM1; t=y:y; p=", "t"),
    ("v=DKIM1; 1x=2; p=", "1x"),
])
def test_validation_errors_name_their_tag(text: str, tag: str) -> None:
    with pytest.raises(RecordError) as info:
        DkimKeyRecord.from_text(text)
    assert info.value.tag == tag
    assert "RFC" in info.value.rule


def test_rsa_p_holding_an_ed25519_key_is_rejected() -> None:
    ed_der = "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="  # the RFC 8463 key as SPKI
    with pytest.raises(RecordError) as info:
        DkimKeyRecord(p=ed_der)
    assert info.value.tag == "p"


def test_selector_name() -> None:
    assert selector_name("brisbane", "Example.COM.") == "brisbane._domainkey.example.com"
    assert selector_name("a.b", "example.com") == "a.b._domainkey.example.com"
    for bad in ("", "-x", "x_y", "a..b", "x" * 64):
        with pytest.raises(RecordError) as info:
            selector_name(bad, "example.com")
        assert info.value.tag == "selector"


def test_txt_strings_split_at_255_bytes() -> None:
    value = "v=DKIM1; p=" + "A" * 600
    parts = txt_strings(value)
    assert [len(part) for part in parts] == [255, 255, 101]
    assert "".join(parts) == value
    assert txt_strings("") == ("",)
    assert txt_strings("x" * 255) == ("x" * 255,)


def test_txt_strings_never_cut_a_utf8_character() -> None:
    value = "é" * 200  # 400 bytes
    parts = txt_strings(value)
    assert all(len(part.encode()) <= 255 for part in parts)
    assert "".join(parts) == value


def test_zone_txt_quotes_and_escapes() -> None:
    assert zone_txt('a"b\\c') == '"a\\"b\\\\c"'
    rendered = zone_txt("x" * 300)
    assert rendered == '"' + "x" * 255 + '" "' + "x" * 45 + '"'
