"""DKIM keys, the pure part: generation, sealing, export, selectors, delegation, rotation plans."""

from __future__ import annotations

import base64
from datetime import date, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.policy.dkimkeys import (
    CnameDelegation,
    DkimKeyError,
    DkimKeyPair,
    DnsRecord,
    RecordType,
    RotationStepKind,
    RotationTiming,
    SealError,
    dkim_selector,
    generate_key,
    rotation_plan,
    seal,
    unseal,
)
from dmarcpilot.records.dkim import DkimKeyRecord, KeyType, txt_strings
from dmarcpilot.records.errors import RecordError

MESSAGE = b"canonicalized header hash input"


@pytest.fixture(scope="module")
def rsa_pair() -> DkimKeyPair:
    return generate_key(KeyType.RSA, 1024)  # the smallest allowed size keeps the test fast


@pytest.fixture(scope="module")
def ed_pair() -> DkimKeyPair:
    return generate_key(KeyType.ED25519)


def test_rsa_key_signs_and_its_record_verifies(rsa_pair: DkimKeyPair) -> None:
    key = rsa_pair.private_key()
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    public = DkimKeyRecord.from_text(rsa_pair.record.to_text()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
    assert rsa_pair.bits == 1024 and rsa_pair.key_type is KeyType.RSA
    assert rsa_pair.record.to_text().startswith("v=DKIM1; p=MI")


def test_ed25519_key_signs_and_its_record_verifies(ed_pair: DkimKeyPair) -> None:
    key = ed_pair.private_key()
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    signature = key.sign(MESSAGE)
    record = DkimKeyRecord.from_text(ed_pair.record.to_text())
    assert record.k is KeyType.ED25519 and record.key_bits == 256
    public = record.public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    public.verify(signature, MESSAGE)


def test_default_rsa_size_is_2048_and_its_record_needs_two_txt_strings() -> None:
    pair = generate_key()
    assert pair.bits == 2048
    strings = txt_strings(pair.record.to_text())
    assert len(strings) == 2 and all(len(s) <= 255 for s in strings)
    assert DkimKeyRecord.from_text("".join(strings)) == pair.record


@pytest.mark.parametrize("bits", [512, 1023, 8192])
def test_rsa_size_limits(bits: int) -> None:
    with pytest.raises(DkimKeyError):
        generate_key(KeyType.RSA, bits)


def test_exports(rsa_pair: DkimKeyPair, ed_pair: DkimKeyPair) -> None:
    for pair in (rsa_pair, ed_pair):
        pem = pair.pkcs8_pem()
        assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
        assert DkimKeyPair.from_private_pem(pem) == pair
    seed = base64.b64decode(ed_pair.ed25519_seed())
    assert len(seed) == 32
    from_seed = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    raw_public = from_seed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert base64.b64encode(raw_public).decode() == ed_pair.record.p
    with pytest.raises(DkimKeyError):
        rsa_pair.ed25519_seed()


def test_private_key_is_not_in_repr(rsa_pair: DkimKeyPair) -> None:
    assert b"PRIVATE" in rsa_pair.private_pem
    assert "PRIVATE" not in repr(rsa_pair)


def test_pkcs1_pem_is_loaded_and_normalised(rsa_pair: DkimKeyPair) -> None:
    key = rsa_pair.private_key()
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
    assert pkcs1.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    assert DkimKeyPair.from_private_pem(pkcs1) == rsa_pair


def _weak_rsa_key() -> rsa.RSAPrivateKey:
    """A 511-bit RSA key (cryptography refuses to generate one): two well-known primes."""
    p, q, e = 2**255 - 19, 2**256 - 2**32 - 977, 65537
    d = rsa.rsa_recover_private_exponent(e, p, q)
    numbers = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q), rsa.rsa_crt_iqmp(p, q),
                                    rsa.RSAPublicNumbers(e, p * q))
    return numbers.private_key()


def test_bad_private_keys() -> None:
    with pytest.raises(DkimKeyError):
        DkimKeyPair.from_private_pem(b"not a key")
    small = _weak_rsa_key()
    pem = small.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
    with pytest.raises(DkimKeyError, match="1024"):
        DkimKeyPair.from_private_pem(pem)


def test_seal_round_trip(ed_pair: DkimKeyPair) -> None:
    token = seal(ed_pair.private_pem, "correct horse battery staple")
    assert token.startswith("dpk1.") and token.isascii()
    assert b"PRIVATE" not in token.encode()
    assert unseal(token, "correct horse battery staple") == ed_pair.private_pem
    assert seal(ed_pair.private_pem, "correct horse battery staple") != token  # fresh salt each time


def test_unseal_with_wrong_secret(ed_pair: DkimKeyPair) -> None:
    token = seal(ed_pair.private_pem, "right")
    with pytest.raises(SealError, match="secret") as info:
        unseal(token, "wrong")
    assert isinstance(info.value, DmarcpilotError)


@pytest.mark.parametrize("token", ["", "dpk1", "dpk2.AAAA.BBBB", "dpk1.!!!.gAAAA", "dpk1.AAAAAAAAAAAAAAAAAAAAAA==.xyz"])
def test_unseal_damaged_tokens(token: str) -> None:
    with pytest.raises(SealError):
        unseal(token, "secret")


def test_empty_secret_is_refused(ed_pair: DkimKeyPair) -> None:
    with pytest.raises(SealError):
        seal(ed_pair.private_pem, "")


def test_selector_naming() -> None:
    assert dkim_selector(date(2026, 12, 4)) == "dp202612"
    assert dkim_selector(date(2026, 12, 4), "microsoft-365") == "dp202612-microsoft-365"
    assert dkim_selector(date(2027, 1, 1), "SAP SuccessFactors+mail", sequence=2) == "dp202701b-sap-successfactors-mail"
    long = dkim_selector(date(2026, 12, 1), "x" * 100, sequence=26)
    assert long == "dp202612z-" + "x" * 24 and len(long) <= 63
    with pytest.raises(DkimKeyError):
        dkim_selector(date(2026, 12, 1), "+++")
    with pytest.raises(DkimKeyError):
        dkim_selector(date(2026, 12, 1), sequence=27)


def test_cname_delegation() -> None:
    delegation = CnameDelegation("dp202612-m365", "Example.edu", "dkim.dmarcpilot.example.net")
    assert delegation.record() == DnsRecord(
        "dp202612-m365._domainkey.example.edu", RecordType.CNAME, "dp202612-m365.dkim.dmarcpilot.example.net")
    with pytest.raises(RecordError):
        CnameDelegation("bad_selector", "example.edu", "zone.example.net")
    with pytest.raises(RecordError):
        CnameDelegation("s1", "example.edu", "not a zone")


def test_rotation_plan_order_and_records(rsa_pair: DkimKeyPair, ed_pair: DkimKeyPair) -> None:
    timing = RotationTiming(dns_ttl=timedelta(hours=2), in_flight=timedelta(days=5), revoked_for=timedelta(days=10))
    plan = rotation_plan("example.edu", "dp202612", ed_pair.record, "dp202606", rsa_pair.record, timing=timing)
    assert plan.kinds() == (RotationStepKind.PUBLISH_NEW, RotationStepKind.SWITCH_SIGNER,
                            RotationStepKind.REVOKE_OLD, RotationStepKind.REMOVE_OLD)
    publish, switch, revoke, remove = plan.steps
    assert publish.publish == (DnsRecord("dp202612._domainkey.example.edu", RecordType.TXT, ed_pair.record.to_text()),)
    assert publish.wait_after == timedelta(hours=2)
    assert switch.publish == () and switch.remove == () and switch.wait_after == timedelta(days=5)
    assert len(revoke.publish) == 1
    revoked = DkimKeyRecord.from_text(revoke.publish[0].value)
    assert revoke.publish[0].name == "dp202606._domainkey.example.edu" and revoked.revoked
    assert revoke.wait_after == timedelta(days=10)
    assert remove.remove == ("dp202606._domainkey.example.edu",) and remove.publish == ()


def test_first_key_plan_has_two_steps(ed_pair: DkimKeyPair) -> None:
    plan = rotation_plan("example.edu", "dp202612", ed_pair.record)
    assert plan.kinds() == (RotationStepKind.PUBLISH_NEW, RotationStepKind.SWITCH_SIGNER)
    assert plan.old_selector is None


def test_delegated_rotation(ed_pair: DkimKeyPair, rsa_pair: DkimKeyPair) -> None:
    plan = rotation_plan("example.edu", "dp202612", ed_pair.record, "dp202606", rsa_pair.record,
                         service_zone="keys.example.net")
    publish, _, revoke, remove = plan.steps
    assert [(r.name, r.rtype) for r in publish.publish] == [
        ("dp202612.keys.example.net", RecordType.TXT),
        ("dp202612._domainkey.example.edu", RecordType.CNAME),
    ]
    assert [(r.name, r.rtype) for r in revoke.publish] == [("dp202606.keys.example.net", RecordType.TXT)]
    assert remove.remove == ("dp202606.keys.example.net", "dp202606._domainkey.example.edu")


def test_rotation_plan_refuses_nonsense(ed_pair: DkimKeyPair) -> None:
    with pytest.raises(DkimKeyError):
        rotation_plan("example.edu", "dp1", ed_pair.record, "DP1")
    with pytest.raises(DkimKeyError):
        rotation_plan("example.edu", "dp1", ed_pair.record.revoke())
