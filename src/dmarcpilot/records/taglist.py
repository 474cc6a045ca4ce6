"""The ``tag=value; tag=value`` syntax shared by DKIM key, DMARC, MTA-STS and TLS-RPT records.

RFC 6376 §3.2 defines it for DKIM; DMARC (RFC 9989 §4.8), MTA-STS (RFC 8461
§3.1) and TLS-RPT (RFC 8460 §3) reuse it with narrower tag names. Parsing here
is syntax only: which tags exist and what their values mean is each record's
business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dmarcpilot.records.errors import RecordError

# RFC 6376 §3.2: tag-name = ALPHA *ALNUMPUNC; the narrower records pass their own.
DKIM_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Any whitespace a zone file or a folded header can leave in a value (FWS, RFC 6376 §2.8).
_WS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class TagSyntax:
    """How one record family spells its tag list."""

    rfc: str  # e.g. "RFC 9989 §4.8", cited in errors
    name: re.Pattern[str]  # what a tag name may look like
    fold_case: bool  # tag names compared case-insensitively (returned lower-case)
    empty_values: bool  # "p=" allowed (DKIM revocation); DMARC's ABNF needs 1*dmarc-value


def parse_tags(text: str, syntax: TagSyntax) -> list[tuple[str, str]]:
    """Split ``text`` into ``(name, value)`` pairs in order, values stripped of surrounding whitespace.

    Whitespace around ``;`` and ``=`` is tolerated, as is a missing or doubled
    trailing ``;``. A tag that appears twice makes the whole list invalid
    (RFC 6376 §3.2, which DMARC inherits).
    """
    if not text.isascii():
        raise RecordError(None, f"{syntax.rfc}: a tag list is ASCII only")
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    for raw in text.split(";"):
        spec = raw.strip(_WS)
        if not spec:
            continue
        name, eq, value = spec.partition("=")
        name = name.strip(_WS)
        value = value.strip(_WS)
        if not eq:
            raise RecordError(name or None, f"{syntax.rfc}: each tag is name=value (got {spec!r})")
        if not syntax.name.fullmatch(name):
            raise RecordError(name or None, f"{syntax.rfc}: invalid tag name {name!r}")
        key = name.lower() if syntax.fold_case else name
        if key in seen:
            raise RecordError(key, f"{syntax.rfc} (RFC 6376 §3.2): a tag must not appear twice")
        seen.add(key)
        if not value and not syntax.empty_values:
            raise RecordError(key, f"{syntax.rfc}: the value of {key}= must not be empty")
        if any(ord(c) < 0x20 and c not in _WS for c in value) or "\x7f" in value:
            raise RecordError(key, f"{syntax.rfc}: control characters are not allowed in {key}=")
        pairs.append((key, value))
    return pairs


def require_version(pairs: list[tuple[str, str]], tag: str, expected: str, rule: str) -> None:
    """The version tag must be present, first and exactly ``expected`` (case-sensitive)."""
    if not pairs or pairs[0][0] != tag:
        raise RecordError(tag, f"{rule}: {tag}={expected} must be the first tag")
    if pairs[0][1] != expected:
        raise RecordError(tag, f"{rule}: {tag}= must be {expected!r}, case-sensitive (got {pairs[0][1]!r})")


def split_list(value: str, sep: str) -> list[str]:
    """Split a ``sep``-separated value, tolerating whitespace around each item."""
    return [item.strip(_WS) for item in value.split(sep)]
