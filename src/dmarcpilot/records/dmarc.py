"""The DMARC policy record (``_dmarc.DOMAIN`` TXT) as a value: RFC 9989, plus RFC 7489's legacy tags.

Parsing is strict: a value that breaks the grammar raises :class:`RecordError`
naming the tag and the rule. (A receiver would instead fall back to defaults,
RFC 9989 §4.8; this module serves people publishing and checking records, who
want to hear about the mistake.) Unknown tags are ignored, as RFC 9989 §4.7
requires, so they do not survive a round trip.

Tags that were not given are ``None`` (or ``()`` for lists), never their
default, so ``to_text`` reproduces what was published without adding
defaults; the ``effective_*`` methods apply the defaults.
"""

from __future__ import annotations

import enum
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.names import MAX_LABEL, MAX_NAME, a_label, mailto_domain
from dmarcpilot.records.taglist import TagSyntax, parse_tags, require_version, split_list

VERSION = "DMARC1"
MAX_RI = 2**32 - 1  # RFC 7489 §6.3: ri is a 32-bit unsigned integer

_SYNTAX = TagSyntax(rfc="RFC 9989 §4.8", name=re.compile(r"[A-Za-z]+"), fold_case=True, empty_values=False)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_SIZE = re.compile(r"([0-9]+)([kmgtKMGT]?)")


class Policy(enum.Enum):
    """Domain Owner Assessment Policy, RFC 9989 §4.7 (p, sp, np)."""

    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class Alignment(enum.Enum):
    """Identifier alignment mode, RFC 9989 §4.7 (adkim, aspf)."""

    RELAXED = "r"
    STRICT = "s"


class PsdFlag(enum.Enum):
    """Whether the record is published for a Public Suffix Domain, RFC 9989 §4.7 (psd)."""

    YES = "y"
    NO = "n"
    UNKNOWN = "u"


class FailureOption(enum.Enum):
    """Failure reporting options, RFC 9989 §4.7 (fo)."""

    ALL_FAIL = "0"  # report when every mechanism fails to give an aligned pass
    ANY_FAIL = "1"  # report when any mechanism fails to give an aligned pass
    DKIM = "d"  # report any DKIM signature that failed evaluation
    SPF = "s"  # report any SPF failure


class ReportFormat(enum.Enum):
    """Failure report format, RFC 7489 §6.3 (rf; historic in RFC 9989)."""

    AFRF = "afrf"


class SizeUnit(enum.Enum):
    """Unit of a report URI's size limit, RFC 7489 §6.2."""

    KILO = "k"
    MEGA = "m"
    GIGA = "g"
    TERA = "t"

    @property
    def multiplier(self) -> int:
        return {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[self.value]


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One entry of rua= or ruf=: a URI with an optional ``!size`` limit (RFC 7489 §6.2).

    RFC 9989 §4.8 keeps the size suffix as obsolete syntax that reporters
    ignore; it is accepted and rendered so existing records round-trip.
    """

    uri: str
    max_size: int | None = None
    size_unit: SizeUnit | None = None

    def __post_init__(self) -> None:
        _check_uri(self.uri)
        if self.max_size is None and self.size_unit is not None:
            raise RecordError("rua", "RFC 7489 §6.2: a size unit needs a size")
        if self.max_size is not None and self.max_size < 0:
            raise RecordError("rua", "RFC 7489 §6.2: a size limit is a non-negative integer")

    @classmethod
    def from_text(cls, text: str, tag: str = "rua") -> ReportUri:
        """Parse ``URI[!SIZE[k|m|g|t]]``; errors name ``tag`` (rua or ruf)."""
        uri, bang, size = text.strip().partition("!")
        max_size: int | None = None
        unit: SizeUnit | None = None
        if bang:
            match = _SIZE.fullmatch(size)
            if match is None:
                raise RecordError(tag, f"RFC 7489 §6.2: a size limit is digits with an optional k, m, g or t "
                                       f"(got {size!r}; a '!' inside a URI must be percent-encoded)")
            max_size = int(match.group(1))
            unit = SizeUnit(match.group(2).lower()) if match.group(2) else None
        try:
            return cls(uri, max_size, unit)
        except RecordError as exc:
            raise RecordError(tag, exc.rule) from None

    def to_text(self) -> str:
        if self.max_size is None:
            return self.uri
        return f"{self.uri}!{self.max_size}{self.size_unit.value if self.size_unit else ''}"

    @property
    def scheme(self) -> str:
        return self.uri.partition(":")[0].lower()

    @property
    def host(self) -> str | None:
        """The domain that receives reports: a mailto: address's domain, an http(s) URI's host; lower-case."""
        if self.scheme == "mailto":
            return mailto_domain(self.uri)
        if self.scheme in ("http", "https"):
            return urllib.parse.urlsplit(self.uri).hostname
        return None

    @property
    def max_bytes(self) -> int | None:
        """The size limit in bytes (units are powers of two, RFC 7489 §6.2), or ``None``."""
        if self.max_size is None:
            return None
        return self.max_size * (self.size_unit.multiplier if self.size_unit else 1)


def _check_uri(uri: str) -> None:
    """RFC 9989 §4.8: a URI (RFC 3986) with ',' and '!' percent-encoded; mailto: needs user@domain."""
    scheme, colon, rest = uri.partition(":")
    if not colon or not _SCHEME.fullmatch(scheme) or not rest:
        raise RecordError("rua", f"RFC 9989 §4.6: a reporting URI needs a scheme and a body, e.g. "
                                 f"mailto:dmarc@example.com (got {uri!r})")
    if any(c in uri for c in " \t,!;") or not uri.isascii() or not uri.isprintable():
        raise RecordError("rua", f"RFC 9989 §4.8: spaces, ',', '!' and ';' must be percent-encoded in a "
                                 f"reporting URI (got {uri!r})")
    kind = scheme.lower()
    if kind == "mailto":
        if mailto_domain(uri) is None:
            raise RecordError("rua", f"RFC 6068 §2: a mailto: URI needs an address user@domain (got {uri!r})")
    elif kind in ("http", "https") and not urllib.parse.urlsplit(uri).hostname:
        raise RecordError("rua", f"RFC 3986 §3.2: an {kind}: URI needs a host (got {uri!r})")


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A DMARC policy record. ``None`` (``()`` for lists) means the tag was not given.

    Field names are the tag names: p/sp/np policies, psd flag, t (testing,
    RFC 9989), adkim/aspf alignment, pct/rf/ri (RFC 7489, historic in
    RFC 9989), fo failure options, rua/ruf report URIs. A record with every
    field unset renders ``v=DMARC1``, which is also the external destination
    verification record.
    """

    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    psd: PsdFlag | None = None
    t: bool | None = None
    adkim: Alignment | None = None
    aspf: Alignment | None = None
    pct: int | None = None
    fo: tuple[FailureOption, ...] = ()
    rf: tuple[ReportFormat, ...] = ()
    ri: int | None = None
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()

    def __post_init__(self) -> None:
        if self.pct is not None and not 0 <= self.pct <= 100:
            raise RecordError("pct", f"RFC 7489 §6.3: pct= is an integer from 0 to 100 (got {self.pct})")
        if self.ri is not None and not 0 <= self.ri <= MAX_RI:
            raise RecordError("ri", f"RFC 7489 §6.3: ri= is a 32-bit unsigned integer (got {self.ri})")
        _check_fo(self.fo)
        if len(set(self.rf)) != len(self.rf):
            raise RecordError("rf", "RFC 7489 §6.3: a report format is listed once")

    # -- text -----------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str) -> DmarcRecord:
        """Parse a record's text (TXT strings already concatenated, RFC 9989 §4.5)."""
        pairs = parse_tags(text, _SYNTAX)
        require_version(pairs, "v", VERSION, "RFC 9989 §4.7")
        fields: dict[str, object] = {}
        for tag, value in pairs[1:]:
            parser = _PARSERS.get(tag)
            if parser is not None:  # RFC 9989 §4.7: unknown tags MUST be ignored
                fields[tag] = parser(tag, value)
        return cls(**fields)  # type: ignore[arg-type]

    def to_text(self) -> str:
        """Canonical text: v, p, sp, np, psd, t, adkim, aspf, pct, fo, rf, ri, rua, ruf; unset tags omitted."""
        values: list[tuple[str, str | None]] = [
            ("p", self.p.value if self.p else None),
            ("sp", self.sp.value if self.sp else None),
            ("np", self.np.value if self.np else None),
            ("psd", self.psd.value if self.psd else None),
            ("t", None if self.t is None else "y" if self.t else "n"),
            ("adkim", self.adkim.value if self.adkim else None),
            ("aspf", self.aspf.value if self.aspf else None),
            ("pct", None if self.pct is None else str(self.pct)),
            ("fo", ":".join(option.value for option in self.fo) or None),
            ("rf", ":".join(fmt.value for fmt in self.rf) or None),
            ("ri", None if self.ri is None else str(self.ri)),
            ("rua", ",".join(uri.to_text() for uri in self.rua) or None),
            ("ruf", ",".join(uri.to_text() for uri in self.ruf) or None),
        ]
        parts = [f"v={VERSION}"] + [f"{tag}={value}" for tag, value in values if value is not None]
        return "; ".join(parts)

    # -- meaning --------------------------------------------------------------

    def effective_policy(self) -> Policy | None:
        """The policy for the domain itself; ``None`` when no DMARC processing applies.

        RFC 9989 §4.7: a record without p= is treated as p=none; §4.10.1: that
        holds when rua= names at least one reporting URI, otherwise the
        receiver applies no DMARC processing.
        """
        if self.p is not None:
            return self.p
        return Policy.NONE if self.rua else None

    def subdomain_policy(self) -> Policy | None:
        """Policy for existing subdomains: sp, else p (RFC 9989 §4.7, sp)."""
        return self.sp if self.sp is not None else self.effective_policy()

    def nonexistent_subdomain_policy(self) -> Policy | None:
        """Policy for non-existent subdomains: np, else sp, else p (RFC 9989 §4.7, np)."""
        return self.np if self.np is not None else self.subdomain_policy()

    def effective_adkim(self) -> Alignment:
        return self.adkim or Alignment.RELAXED

    def effective_aspf(self) -> Alignment:
        return self.aspf or Alignment.RELAXED

    def effective_fo(self) -> tuple[FailureOption, ...]:
        return self.fo or (FailureOption.ALL_FAIL,)

    def is_testing(self) -> bool:
        """t=y: apply one level below the stated policy (RFC 9989 §4.7, t)."""
        return bool(self.t)


def _check_fo(options: tuple[FailureOption, ...]) -> None:
    """RFC 9989 §4.8, dmarc-fo: each option at most once, "0" and "1" mutually exclusive."""
    if len(set(options)) != len(options):
        raise RecordError("fo", "RFC 9989 §4.8: each fo= option appears at most once")
    if FailureOption.ALL_FAIL in options and FailureOption.ANY_FAIL in options:
        raise RecordError("fo", "RFC 9989 §4.7: fo= options 0 and 1 are mutually exclusive")


# -- per-tag value parsers (RFC 9989 §4.8 table "Tag Names and Values") ----------


def _policy(tag: str, value: str) -> Policy:
    try:
        return Policy(value.lower())
    except ValueError:
        raise RecordError(tag, f"RFC 9989 §4.7: {tag}= must be none, quarantine or reject (got {value!r})") from None


def _alignment(tag: str, value: str) -> Alignment:
    try:
        return Alignment(value.lower())
    except ValueError:
        raise RecordError(tag, f"RFC 9989 §4.7: {tag}= must be r (relaxed) or s (strict) (got {value!r})") from None


def _psd(tag: str, value: str) -> PsdFlag:
    try:
        return PsdFlag(value.lower())
    except ValueError:
        raise RecordError(tag, f"RFC 9989 §4.7: psd= must be y, n or u (got {value!r})") from None


def _yorn(tag: str, value: str) -> bool:
    if value.lower() not in ("y", "n"):
        raise RecordError(tag, f"RFC 9989 §4.7: t= must be y or n (got {value!r})")
    return value.lower() == "y"


def _uint(tag: str, value: str, limit: int, rule: str) -> int:
    if not value.isascii() or not value.isdigit() or int(value) > limit:
        raise RecordError(tag, f"{rule} (got {value!r})")
    return int(value)


def _pct(tag: str, value: str) -> int:
    return _uint(tag, value, 100, "RFC 7489 §6.3: pct= is an integer from 0 to 100")


def _ri(tag: str, value: str) -> int:
    return _uint(tag, value, MAX_RI, "RFC 7489 §6.3: ri= is a 32-bit unsigned integer")


def _fo(tag: str, value: str) -> tuple[FailureOption, ...]:
    options = []
    for item in split_list(value, ":"):
        try:
            options.append(FailureOption(item.lower()))
        except ValueError:
            raise RecordError(tag, f"RFC 9989 §4.7: fo= is a colon list of 0, 1, d and s (got {value!r})") from None
    result = tuple(options)
    _check_fo(result)
    return result


def _rf(tag: str, value: str) -> tuple[ReportFormat, ...]:
    formats = []
    for item in split_list(value, ":"):
        try:
            formats.append(ReportFormat(item.lower()))
        except ValueError:
            raise RecordError(tag, f"RFC 7489 §6.3: rf= lists report formats; only afrf is defined "
                                   f"(got {value!r})") from None
    return tuple(formats)


def _uris(tag: str, value: str) -> tuple[ReportUri, ...]:
    items = split_list(value, ",")
    if any(not item for item in items):
        raise RecordError(tag, f"RFC 9989 §4.8: {tag}= is a comma-separated list of URIs, none empty (got {value!r})")
    return tuple(ReportUri.from_text(item, tag) for item in items)


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "p": _policy, "sp": _policy, "np": _policy, "psd": _psd, "t": _yorn,
    "adkim": _alignment, "aspf": _alignment, "pct": _pct, "fo": _fo, "rf": _rf, "ri": _ri,
    "rua": _uris, "ruf": _uris,
}


# -- names and external destinations ------------------------------------------


def record_name(domain: str) -> str:
    """Where a domain's policy record lives: ``_dmarc.DOMAIN`` (RFC 9989 §4.5)."""
    return f"_dmarc.{a_label(domain)}"


def external_destination_records(
    policy_domain: str,
    uris: Iterable[ReportUri],
    org_domain: Callable[[str], str | None],
) -> tuple[tuple[str, str], ...]:
    """TXT records a report receiver publishes to accept reports for ``policy_domain``.

    RFC 9990 "Verifying External Destinations" (RFC 7489 §7.1): when the
    Organizational Domain of a URI's host differs from that of the policy
    domain, the receiver checks ``POLICY-DOMAIN._report._dmarc.HOST`` for a
    ``v=DMARC1`` record. Returns ``(name, value)`` pairs in URI order, each
    once. ``org_domain`` maps a name to its Organizational Domain (``None``
    when unknown: the name itself is used); no DNS is done here. URIs without
    a host (schemes other than mailto/http/https) need no record.
    """
    domain = a_label(policy_domain)
    home = org_domain(domain) or domain
    seen: dict[str, str] = {}
    for uri in uris:
        host = uri.host
        if host is None:
            continue
        host = a_label(host)
        if (org_domain(host) or host) == home:
            continue
        name = f"{domain}._report._dmarc.{host}"
        if len(name) > MAX_NAME or any(len(label) > MAX_LABEL for label in name.split(".")):
            raise RecordError("rua", f"RFC 9990 (Verifying External Destinations, step 4): {name!r} exceeds "
                                     "DNS name limits, so the destination can never be verified")
        seen.setdefault(name, f"v={VERSION}")
    return tuple(seen.items())
