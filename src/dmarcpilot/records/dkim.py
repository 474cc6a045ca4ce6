"""The DKIM key record (``SELECTOR._domainkey.DOMAIN`` TXT) as a value: RFC 6376 §3.6.1, RFC 8463.

Also the TXT rendering helpers every long record needs: splitting a value into
character-strings of at most 255 bytes (RFC 1035 §3.3.14; RFC 6376 §3.6.2.2,
RFC 7208 §3.3 say the strings are concatenated without spaces) and the quoted
zone-file form.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.names import a_label, is_hostname
from dmarcpilot.records.taglist import DKIM_TAG_NAME, TagSyntax, parse_tags, require_version, split_list

VERSION = "DKIM1"
ED25519_KEY_BYTES = 32  # RFC 8463 §4: p= is the raw 32-byte public key
TXT_STRING_MAX = 255  # RFC 1035 §3.3.14: one <character-string> holds at most 255 octets

_SYNTAX = TagSyntax(rfc="RFC 6376 §3.2", name=DKIM_TAG_NAME, fold_case=False, empty_values=True)
_WS = re.compile(r"[ \t\r\n]+")

PublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_E = TypeVar("_E", bound=enum.Enum)


class KeyType(enum.Enum):
    """k= (RFC 6376 §3.6.1; ed25519 from RFC 8463 §4)."""

    RSA = "rsa"
    ED25519 = "ed25519"


class HashAlgorithm(enum.Enum):
    """h= acceptable hash algorithms (RFC 6376 §3.6.1; sha1 is historic, RFC 8301 §3.1)."""

    SHA1 = "sha1"
    SHA256 = "sha256"


class ServiceType(enum.Enum):
    """s= service types (RFC 6376 §3.6.1)."""

    ANY = "*"
    EMAIL = "email"


class KeyFlag(enum.Enum):
    """t= flags (RFC 6376 §3.6.1)."""

    TESTING = "y"  # the domain is testing DKIM
    STRICT = "s"  # i= must not be a subdomain of d=


@dataclass(frozen=True, slots=True)
class DkimKeyRecord:
    """A DKIM public key record. ``None`` / ``()`` means the tag was not given (defaults apply).

    ``p`` is the base64 key data without whitespace; ``""`` is a revoked key
    (RFC 6376 §3.6.1). For rsa it is a DER SubjectPublicKeyInfo (what
    ``openssl rsa -pubout`` and every signer emit; a bare PKCS#1
    RSAPublicKey is accepted too, as verifiers do), for ed25519 the raw
    32-byte key (RFC 8463 §4). Unrecognised h=, s= and t= values are ignored
    on parse, as RFC 6376 §3.6.1 requires, and unknown tags too (§3.2).
    """

    p: str
    k: KeyType | None = None
    h: tuple[HashAlgorithm, ...] = ()
    s: tuple[ServiceType, ...] = ()
    t: tuple[KeyFlag, ...] = ()
    n: str | None = None

    def __post_init__(self) -> None:
        for tag, values in (("h", self.h), ("s", self.s), ("t", self.t)):
            if len(set(values)) != len(values):
                raise RecordError(tag, f"RFC 6376 §3.6.1: each {tag}= value is listed once")
        if self.n is not None and (";" in self.n or not self.n.isascii()):
            raise RecordError("n", "RFC 6376 §3.6.1: n= is a qp-section: ASCII, no ';'")
        self.public_key()  # validates p= against k=

    # -- meaning --------------------------------------------------------------

    @property
    def key_type(self) -> KeyType:
        return self.k or KeyType.RSA

    @property
    def revoked(self) -> bool:
        """An empty p= revokes the key (RFC 6376 §3.6.1)."""
        return self.p == ""

    @property
    def testing(self) -> bool:
        return KeyFlag.TESTING in self.t

    def key_data(self) -> bytes:
        """The decoded p= bytes (empty when revoked)."""
        try:
            return base64.b64decode(self.p, validate=True)
        except (binascii.Error, ValueError):
            raise RecordError("p", f"RFC 6376 §3.6.1: p= must be base64 (got {self.p[:40]!r})") from None

    def public_key(self) -> PublicKey | None:
        """The key as a ``cryptography`` object, ``None`` when revoked; RecordError if p= does not fit k=."""
        data = self.key_data()
        if not data:
            return None
        if self.key_type is KeyType.ED25519:
            if len(data) != ED25519_KEY_BYTES:
                raise RecordError("p", f"RFC 8463 §4: an ed25519 p= is the raw 32-byte key (got {len(data)} bytes)")
            return ed25519.Ed25519PublicKey.from_public_bytes(data)
        try:
            key = serialization.load_der_public_key(data)
        except ValueError:
            raise RecordError("p", "RFC 6376 §3.6.1: an rsa p= must be a DER-encoded RSA public key "
                                   "(SubjectPublicKeyInfo)") from None
        if not isinstance(key, rsa.RSAPublicKey):
            raise RecordError("p", f"RFC 6376 §3.6.1: p= holds a {type(key).__name__}, not the rsa key k= names")
        return key

    @property
    def key_bits(self) -> int | None:
        """The key size in bits (RSA modulus, 256 for ed25519); ``None`` when revoked.

        RFC 8301 §3.2: verifiers must not accept RSA keys under 1024 bits.
        """
        key = self.public_key()
        if key is None:
            return None
        return key.key_size if isinstance(key, rsa.RSAPublicKey) else 8 * ED25519_KEY_BYTES

    # -- text -----------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str) -> DkimKeyRecord:
        """Parse a key record's text (TXT strings already concatenated, RFC 6376 §3.6.2.2)."""
        pairs = parse_tags(text, _SYNTAX)
        if pairs and pairs[0][0] == "v":
            require_version(pairs, "v", VERSION, "RFC 6376 §3.6.1")
        elif any(tag == "v" for tag, _ in pairs):
            raise RecordError("v", "RFC 6376 §3.6.1: v= must be the first tag")
        tags = dict(pairs)
        if "p" not in tags:
            raise RecordError("p", "RFC 6376 §3.6.1: p= is required (empty to revoke a key)")
        return cls(
            p=_WS.sub("", tags["p"]),
            k=_key_type(tags["k"]) if "k" in tags else None,
            h=_known("h", tags.get("h"), HashAlgorithm),
            s=_known("s", tags.get("s"), ServiceType),
            t=_known("t", tags.get("t"), KeyFlag),
            n=tags.get("n"),
        )

    def to_text(self) -> str:
        """Canonical text: v, h, k, n, s, t, p (p last, it is the long one); unset tags omitted."""
        parts = [f"v={VERSION}"]
        if self.h:
            parts.append("h=" + ":".join(alg.value for alg in self.h))
        if self.k is not None:
            parts.append(f"k={self.k.value}")
        if self.n is not None:
            parts.append(f"n={self.n}")
        if self.s:
            parts.append("s=" + ":".join(service.value for service in self.s))
        if self.t:
            parts.append("t=" + ":".join(flag.value for flag in self.t))
        parts.append(f"p={self.p}")
        return "; ".join(parts)

    @classmethod
    def for_public_key(cls, key: PublicKey, *, testing: bool = False) -> DkimKeyRecord:
        """The record publishing ``key`` (k= given for ed25519 only, rsa being the default)."""
        flags = (KeyFlag.TESTING,) if testing else ()
        if isinstance(key, ed25519.Ed25519PublicKey):
            raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return cls(p=base64.b64encode(raw).decode("ascii"), k=KeyType.ED25519, t=flags)
        der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(p=base64.b64encode(der).decode("ascii"), t=flags)

    def revoke(self) -> DkimKeyRecord:
        """The same record with an empty p=: the key is revoked (RFC 6376 §3.6.1)."""
        return DkimKeyRecord(p="", k=self.k, h=self.h, s=self.s, t=self.t, n=self.n)


def _key_type(value: str) -> KeyType:
    try:
        return KeyType(value.lower())
    except ValueError:
        raise RecordError("k", f"RFC 6376 §3.6.1 / RFC 8463 §4: k= must be rsa or ed25519 (got {value!r})") from None


def _known(tag: str, value: str | None, kind: type[_E]) -> tuple[_E, ...]:
    """Colon list keeping recognised values in order; unrecognised ones are ignored (RFC 6376 §3.6.1)."""
    if value is None:
        return ()
    known = {member.value: member for member in kind}
    items = [item.lower() for item in split_list(value, ":")]
    if len(set(items)) != len(items):
        raise RecordError(tag, f"RFC 6376 §3.6.1: each {tag}= value is listed once (got {value!r})")
    result = tuple(known[item] for item in items if item in known)
    if not result and tag != "t":  # with no usable h= or s= value the key cannot sign email
        raise RecordError(tag, f"RFC 6376 §3.6.1: {tag}= names no value this key can be used with (got {value!r})")
    return result


# -- names and TXT rendering ---------------------------------------------------------


def selector_name(selector: str, domain: str) -> str:
    """Where a key lives: ``SELECTOR._domainkey.DOMAIN`` (RFC 6376 §3.6.2.1); the selector is checked."""
    check_selector(selector)
    return f"{selector}._domainkey.{a_label(domain)}"


def check_selector(selector: str) -> str:
    """A selector is one or more DNS labels (RFC 6376 §3.1: sub-domain *("." sub-domain))."""
    if not is_hostname(selector):
        raise RecordError("selector", f"RFC 6376 §3.1: a selector is dot-separated DNS labels of letters, digits "
                               f"and inner hyphens (got {selector!r})")
    return selector


def txt_strings(value: str) -> tuple[str, ...]:
    """Split a TXT value into character-strings of at most 255 bytes each.

    Receivers concatenate them without adding anything (RFC 6376 §3.6.2.2,
    RFC 7208 §3.3), so the split point does not matter; a multi-byte UTF-8
    character is never cut. An empty value is one empty string.
    """
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode("utf-8"))
        if size + width > TXT_STRING_MAX:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(char)
        size += width
    chunks.append("".join(current))
    return tuple(chunks)


def zone_txt(value: str) -> str:
    """The TXT RDATA as a zone file writes it: quoted character-strings, ``"`` and ``\\`` escaped."""
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in txt_strings(value))
