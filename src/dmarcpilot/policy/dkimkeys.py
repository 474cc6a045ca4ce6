"""DKIM keys, the pure part: generate, seal at rest, export for a signer, name selectors, plan rotation.

Nothing here touches the store or the DNS: the functions return keys, sealed
tokens and plans as values; storing them and publishing the records they name
is other code's job.

Sealing. A private key is kept encrypted with Fernet (AES-128-CBC +
HMAC-SHA256, from ``cryptography``) under a key derived from the settings
secret with **scrypt** (n=2**15, r=8, p=1) and a random 16-byte salt stored in
the token. scrypt rather than HKDF because the settings secret may be a
passphrase a person chose, and a memory-hard KDF makes guessing it from a
stolen database expensive; the per-token salt means no two tokens share a
key. Deriving costs ~0.1 s, paid once per unseal.
"""

from __future__ import annotations

import base64
import binascii
import enum
import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TypeAlias

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.records.dkim import DkimKeyRecord, KeyType, check_selector, selector_name
from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.names import a_label, is_service_name

MIN_RSA_BITS = 1024  # RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits
DEFAULT_RSA_BITS = 2048  # RFC 8301 §3.2: SHOULD use at least 2048
MAX_RSA_BITS = 4096  # a 4096-bit SPKI still fits one TXT record as several strings; larger keys do not help
RSA_EXPONENT = 65537

SEAL_PREFIX = "dpk1"  # token format version: dpk1.<salt b64url>.<fernet token>
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SALT_BYTES = 16
_SELECTOR_PREFIX = "dp"
_SERVICE_LABEL_MAX = 24

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


class DkimKeyError(DmarcpilotError):
    """A key that cannot be generated, loaded or exported as asked."""


class SealError(DkimKeyError):
    """A sealed key cannot be opened: wrong secret, or a damaged token."""


# -- keys --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DkimKeyPair:
    """A private key (PKCS#8 PEM, unencrypted: seal it before storing) and the record publishing its public half."""

    key_type: KeyType
    private_pem: bytes = field(repr=False)
    record: DkimKeyRecord

    @classmethod
    def from_private_pem(cls, pem: bytes) -> DkimKeyPair:
        """Load a PEM private key (PKCS#8, or PKCS#1 for RSA) and derive its record."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise DkimKeyError(f"not an unencrypted PEM private key: {exc}") from None
        if isinstance(key, rsa.RSAPrivateKey):
            if key.key_size < MIN_RSA_BITS:
                raise DkimKeyError(f"RSA key of {key.key_size} bits: RFC 8301 §3.2 requires at least {MIN_RSA_BITS}")
            return cls(KeyType.RSA, _pkcs8(key), DkimKeyRecord.for_public_key(key.public_key()))
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return cls(KeyType.ED25519, _pkcs8(key), DkimKeyRecord.for_public_key(key.public_key()))
        raise DkimKeyError(f"a {type(key).__name__} is not a DKIM key type (rsa, ed25519)")

    def private_key(self) -> PrivateKey:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
        return key

    @property
    def bits(self) -> int:
        """Key size in bits: the RSA modulus, 256 for ed25519."""
        bits = self.record.key_bits
        assert bits is not None
        return bits

    def pkcs8_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM, the form signers (OpenDKIM, rspamd, dkimpy) load."""
        return self.private_pem

    def ed25519_seed(self) -> str:
        """The base64 of the raw 32-byte Ed25519 private key (seed), the form some signers want (RFC 8463 §3)."""
        key = self.private_key()
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise DkimKeyError("only an ed25519 key has a raw seed form; export RSA keys as PEM")
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
        return base64.b64encode(raw).decode("ascii")


def _pkcs8(key: PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def generate_key(key_type: KeyType = KeyType.RSA, bits: int = DEFAULT_RSA_BITS) -> DkimKeyPair:
    """A new key pair: RSA of ``bits`` (1024-4096, default 2048) or Ed25519 (``bits`` ignored)."""
    if key_type is KeyType.ED25519:
        return DkimKeyPair.from_private_pem(_pkcs8(ed25519.Ed25519PrivateKey.generate()))
    if not MIN_RSA_BITS <= bits <= MAX_RSA_BITS:
        raise DkimKeyError(f"RSA key size {bits}: use {MIN_RSA_BITS} to {MAX_RSA_BITS} bits "
                           f"(RFC 8301 §3.2; {DEFAULT_RSA_BITS} recommended)")
    key = rsa.generate_private_key(public_exponent=RSA_EXPONENT, key_size=bits)
    return DkimKeyPair.from_private_pem(_pkcs8(key))


# -- sealing -----------------------------------------------------------------------


def _fernet(secret: str, salt: bytes) -> Fernet:
    if not secret:
        raise SealError("the settings secret is empty: set one before storing DKIM keys")
    kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(secret.encode("utf-8"))))


def seal(private_pem: bytes, secret: str) -> str:
    """Encrypt a private key for storage: ``dpk1.<salt>.<fernet token>`` (ASCII)."""
    salt = os.urandom(_SALT_BYTES)
    token = _fernet(secret, salt).encrypt(private_pem).decode("ascii")
    return f"{SEAL_PREFIX}.{base64.urlsafe_b64encode(salt).decode('ascii')}.{token}"


def unseal(token: str, secret: str) -> bytes:
    """The private key sealed in ``token``; :class:`SealError` if the secret is wrong or the token damaged."""
    prefix, _, rest = token.strip().partition(".")
    salt_text, _, fernet_token = rest.partition(".")
    if prefix != SEAL_PREFIX or not fernet_token:
        raise SealError(f"not a sealed DKIM key (expected a {SEAL_PREFIX}. token)")
    try:
        salt = base64.urlsafe_b64decode(salt_text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise SealError("damaged sealed key: bad salt") from None
    try:
        return _fernet(secret, salt).decrypt(fernet_token.encode("ascii"))
    except (InvalidToken, UnicodeEncodeError):
        raise SealError("cannot unseal the DKIM key: the settings secret is not the one it was sealed with, "
                        "or the stored token is damaged") from None


# -- selectors and delegation ------------------------------------------------------


def dkim_selector(month: date, service: str | None = None, sequence: int = 1) -> str:
    """A selector like ``dp202612-microsoft-365``: ``dp`` + YYYYMM, a letter for the n-th key
    of the month after the first (``dp202612b``), and a short service id, all one DNS label."""
    if not 1 <= sequence <= 26:
        raise DkimKeyError(f"selector sequence {sequence}: use 1 to 26 keys a month")
    label = f"{_SELECTOR_PREFIX}{month:%Y%m}{'' if sequence == 1 else chr(ord('a') + sequence - 1)}"
    if service:
        short = re.sub(r"[^a-z0-9]+", "-", service.lower()).strip("-")[:_SERVICE_LABEL_MAX].strip("-")
        if not short:
            raise DkimKeyError(f"service id {service!r} has no letters or digits to name a selector with")
        label = f"{label}-{short}"
    return check_selector(label)


class RecordType(enum.Enum):
    TXT = "TXT"
    CNAME = "CNAME"


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One record to publish: owner name (no trailing dot), type, and value (TXT text unsplit, or CNAME target)."""

    name: str
    rtype: RecordType
    value: str


@dataclass(frozen=True, slots=True)
class CnameDelegation:
    """``SELECTOR._domainkey.CUSTOMER CNAME SELECTOR.SERVICE-ZONE``: the customer delegates one selector
    to the zone dmarcpilot serves, publishes it once, and the key behind it can change without them."""

    selector: str
    customer_domain: str
    service_zone: str

    def __post_init__(self) -> None:
        check_selector(self.selector)
        for name in (self.customer_domain, self.service_zone):
            if not is_service_name(a_label(name)):
                raise RecordError(None, f"RFC 1035 §2.3.1: {name!r} is not a domain name")

    @property
    def name(self) -> str:
        return selector_name(self.selector, self.customer_domain)

    @property
    def target(self) -> str:
        return f"{self.selector}.{a_label(self.service_zone)}"

    def record(self) -> DnsRecord:
        return DnsRecord(self.name, RecordType.CNAME, self.target)


# -- rotation ----------------------------------------------------------------------


class RotationStepKind(enum.Enum):
    PUBLISH_NEW = "publish-new"  # new selector's key in DNS, not used yet
    SWITCH_SIGNER = "switch-signer"  # signer uses the new key; the old one still verifies mail in flight
    REVOKE_OLD = "revoke-old"  # old selector published with an empty p= (RFC 6376 §3.6.1)
    REMOVE_OLD = "remove-old"  # old selector's records deleted


@dataclass(frozen=True, slots=True)
class RotationStep:
    """One step: records to publish (added or replaced) and names to delete, then how long to wait."""

    kind: RotationStepKind
    publish: tuple[DnsRecord, ...]
    remove: tuple[str, ...]
    wait_after: timedelta
    note: str


@dataclass(frozen=True, slots=True)
class RotationPlan:
    domain: str
    old_selector: str | None
    new_selector: str
    steps: tuple[RotationStep, ...]

    def kinds(self) -> tuple[RotationStepKind, ...]:
        return tuple(step.kind for step in self.steps)


@dataclass(frozen=True, slots=True)
class RotationTiming:
    """Waits between steps.

    ``dns_ttl``: the longest a resolver may cache the key records, negative
    answers included (RFC 2308). ``in_flight``: how long mail signed with the
    old key may still be verified; RFC 5321 §4.5.4.1 retries for 4-5 days.
    ``revoked_for``: how long the revoked record stays, so late verifiers
    see "revoked" rather than "no key".
    """

    dns_ttl: timedelta = timedelta(hours=1)
    in_flight: timedelta = timedelta(days=7)
    revoked_for: timedelta = timedelta(days=7)


def _key_records(selector: str, domain: str, record: DkimKeyRecord,
                 service_zone: str | None) -> tuple[DnsRecord, ...]:
    """The TXT (and, when delegated, the customer's CNAME) that publish one selector."""
    if service_zone is None:
        return (DnsRecord(selector_name(selector, domain), RecordType.TXT, record.to_text()),)
    delegation = CnameDelegation(selector, domain, service_zone)
    return (DnsRecord(delegation.target, RecordType.TXT, record.to_text()), delegation.record())


def rotation_plan(
    domain: str,
    new_selector: str,
    new_record: DkimKeyRecord,
    old_selector: str | None = None,
    old_record: DkimKeyRecord | None = None,
    *,
    service_zone: str | None = None,
    timing: RotationTiming | None = None,
) -> RotationPlan:
    """Steps to move ``domain``'s signer from ``old_selector`` to ``new_selector``, in order.

    publish new → switch signer → revoke old (empty p=) → remove old. Without
    an old selector the plan is the first two steps. With ``service_zone`` the
    TXT records live in that zone and the customer domain carries CNAMEs
    (:class:`CnameDelegation`).
    """
    timing = timing or RotationTiming()
    if new_record.revoked:
        raise DkimKeyError("the new key record is revoked (empty p=)")
    if old_selector is not None and old_selector.lower() == new_selector.lower():
        raise DkimKeyError(f"the new selector must differ from the old one ({new_selector!r})")
    domain = a_label(domain)
    steps = [
        RotationStep(RotationStepKind.PUBLISH_NEW, _key_records(new_selector, domain, new_record, service_zone), (),
                     timing.dns_ttl, f"publish {new_selector}; wait until every cache can see it"),
        RotationStep(RotationStepKind.SWITCH_SIGNER, (), (), timing.in_flight if old_selector else timedelta(0),
                     f"sign with {new_selector}"),
    ]
    if old_selector is not None:
        revoked = (old_record or DkimKeyRecord(p="")).revoke()
        old = _key_records(old_selector, domain, revoked, service_zone)
        steps.append(RotationStep(RotationStepKind.REVOKE_OLD, old[:1], (), timing.revoked_for,
                                  f"revoke {old_selector} with an empty p="))
        steps.append(RotationStep(RotationStepKind.REMOVE_OLD, (), tuple(r.name for r in old), timedelta(0),
                                  f"remove {old_selector}"))
    return RotationPlan(domain, old_selector, new_selector, tuple(steps))

