"""MTA-STS (RFC 8461): the ``_mta-sts.DOMAIN`` TXT record and the policy file it announces.

The record (§3.1) carries only a version and a policy id that changes whenever
the policy does; the policy (§3.2) is served at
``https://mta-sts.DOMAIN/.well-known/mta-sts.txt``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.names import a_label, is_hostname
from dmarcpilot.records.taglist import TagSyntax, parse_tags, require_version

RECORD_VERSION = "STSv1"
POLICY_VERSION = "STSv1"
MAX_AGE_LIMIT = 31_557_600  # RFC 8461 §3.2: max_age is at most one year (in seconds)
POLICY_PATH = "/.well-known/mta-sts.txt"  # RFC 8461 §3.3

# RFC 8461 §3.1: sts-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_SYNTAX = TagSyntax(rfc="RFC 8461 §3.1", name=_EXT_NAME, fold_case=False, empty_values=False)
_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_MAX_AGE = re.compile(r"[0-9]{1,10}")
_WSP = " \t"


class Mode(enum.Enum):
    """Policy mode, RFC 8461 §3.2 (mode)."""

    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


def record_name(domain: str) -> str:
    """Where the MTA-STS TXT record lives: ``_mta-sts.DOMAIN`` (RFC 8461 §3.1)."""
    return f"_mta-sts.{a_label(domain)}"


def policy_host(domain: str) -> str:
    """The host serving the policy: ``mta-sts.DOMAIN`` (RFC 8461 §3.3)."""
    return f"mta-sts.{a_label(domain)}"


def policy_url(domain: str) -> str:
    """``https://mta-sts.DOMAIN/.well-known/mta-sts.txt`` (RFC 8461 §3.3)."""
    return f"https://{policy_host(domain)}{POLICY_PATH}"


def policy_id(when: datetime) -> str:
    """A policy id from a UTC timestamp, ``YYYYMMDDHHMMSS`` (a valid id, RFC 8461 §3.1; must be aware)."""
    if when.tzinfo is None:
        raise ValueError("policy_id needs a timezone-aware datetime")
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%S")


@dataclass(frozen=True, slots=True)
class MtaStsRecord:
    """``v=STSv1; id=...``: ``id`` is 1-32 letters and digits (RFC 8461 §3.1). Extensions are ignored."""

    id: str

    def __post_init__(self) -> None:
        if not _ID.fullmatch(self.id):
            raise RecordError("id", f"RFC 8461 §3.1: id= is 1 to 32 letters and digits (got {self.id!r})")

    @classmethod
    def from_text(cls, text: str) -> MtaStsRecord:
        pairs = parse_tags(text, _SYNTAX)
        require_version(pairs, "v", RECORD_VERSION, "RFC 8461 §3.1")
        values = dict(pairs)
        if "id" not in values:
            raise RecordError("id", "RFC 8461 §3.1: id= is required")
        return cls(values["id"])

    def to_text(self) -> str:
        return f"v={RECORD_VERSION}; id={self.id}"


def _check_mx(pattern: str) -> None:
    """RFC 8461 §3.2: sts-policy-mx-value = ["*."] Domain (RFC 5321 Domain: no trailing dot)."""
    host = pattern.removeprefix("*.")
    if not is_hostname(host) or "." not in host:
        raise RecordError("mx", f"RFC 8461 §3.2: mx is a host name, optionally starting with '*.' (got {pattern!r})")


@dataclass(frozen=True, slots=True)
class MtaStsPolicy:
    """The policy file (RFC 8461 §3.2): mode, allowed MX patterns, max_age in seconds.

    RFC 8461 §3.2 asks for one or more mx lines; a ``mode: none`` policy,
    which withdraws MTA-STS (§8.3) and is never matched against MX hosts, is
    accepted without any. Unknown fields are ignored on parse.
    """

    mode: Mode
    mx: tuple[str, ...]
    max_age: int

    def __post_init__(self) -> None:
        if not 0 <= self.max_age <= MAX_AGE_LIMIT:
            raise RecordError("max_age", f"RFC 8461 §3.2: max_age is 0 to {MAX_AGE_LIMIT} seconds "
                                         f"(got {self.max_age})")
        if not self.mx and self.mode is not Mode.NONE:
            raise RecordError("mx", "RFC 8461 §3.2: a policy lists one or more mx patterns")
        for pattern in self.mx:
            _check_mx(pattern)
        if len({pattern.lower() for pattern in self.mx}) != len(self.mx):
            raise RecordError("mx", "RFC 8461 §3.2: each mx pattern is listed once")

    @classmethod
    def from_text(cls, text: str) -> MtaStsPolicy:
        """Parse a policy body; lines end in CRLF or LF (RFC 8461 §3.2, sts-policy-term)."""
        fields: dict[str, str] = {}
        mx: list[str] = []
        for number, raw in enumerate(text.split("\n"), start=1):
            line = raw.removesuffix("\r").rstrip(_WSP)
            if not line:
                continue
            key, colon, value = line.partition(":")
            value = value.strip(_WSP)
            if not colon or not _EXT_NAME.fullmatch(key) or not value:
                raise RecordError(key if colon else None,
                                  f"RFC 8461 §3.2: line {number} is not 'field: value' (got {line!r})")
            if key == "mx":
                mx.append(value)
            elif key in fields and key in ("version", "mode", "max_age"):
                raise RecordError(key, f"RFC 8461 §3.2: {key} appears once")
            else:
                fields[key] = value  # unknown fields are ignored below
        return cls._from_fields(fields, tuple(mx))

    @classmethod
    def _from_fields(cls, fields: dict[str, str], mx: tuple[str, ...]) -> MtaStsPolicy:
        for required in ("version", "mode", "max_age"):
            if required not in fields:
                raise RecordError(required, f"RFC 8461 §3.2: the {required} field is required")
        if fields["version"] != POLICY_VERSION:
            raise RecordError("version", f"RFC 8461 §3.2: version must be {POLICY_VERSION!r}, case-sensitive "
                                         f"(got {fields['version']!r})")
        try:
            mode = Mode(fields["mode"])
        except ValueError:
            raise RecordError("mode", f"RFC 8461 §3.2: mode is enforce, testing or none, case-sensitive "
                                      f"(got {fields['mode']!r})") from None
        if not _MAX_AGE.fullmatch(fields["max_age"]):
            raise RecordError("max_age", f"RFC 8461 §3.2: max_age is a non-negative integer number of seconds "
                                         f"(got {fields['max_age']!r})")
        return cls(mode, mx, int(fields["max_age"]))

    def to_text(self) -> str:
        """The policy body with CRLF line ends, version first (RFC 8461 §3.2)."""
        lines = [f"version: {POLICY_VERSION}", f"mode: {self.mode.value}"]
        lines += [f"mx: {pattern}" for pattern in self.mx]
        lines.append(f"max_age: {self.max_age}")
        return "\r\n".join(lines) + "\r\n"

    def matches(self, mx_host: str) -> bool:
        """Whether an MX host name is allowed (RFC 8461 §4.1: '*.' stands for exactly one leftmost label)."""
        host = mx_host.lower().removesuffix(".")
        for pattern in self.mx:
            pattern = pattern.lower()
            if pattern.startswith("*."):
                label, dot, rest = host.partition(".")
                if label and dot and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False
