"""SPF records (RFC 7208): typed, immutable, strictly validated; ``from_text`` / ``to_text``. No DNS.

A record is ``v=spf1`` followed by terms, each a mechanism (§5) with an
optional qualifier or a modifier (§6). Domain-specs and modifier values are
macro-strings (§7.1); they are parsed here into :class:`MacroString`, which
the evaluator (``dmarcpilot.spf``) expands. Any syntax error anywhere in a
record raises :class:`SpfSyntaxError` (§4.6: the whole record is a
permerror), naming the term and the rule broken.

``to_text`` is canonical: no ``+`` qualifier, lower-case mechanism and
modifier names, networks written as their network address with the prefix
length only when it is not the full length, ``/32`` and ``//128`` dropped
from ``a``/``mx``, single spaces. ``from_text(r.to_text()) == r`` holds for
every record.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass, field

from dmarcpilot.records.errors import RecordError

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

VERSION = "v=spf1"


class SpfSyntaxError(RecordError):
    """An SPF record, term or macro-string that breaks RFC 7208's grammar (§12) or a rule of §4-§7."""

    def __init__(self, term: str | None, rule: str) -> None:
        super().__init__(term, rule)
        self.term = term
        self.args = (f"term {term!r}: {rule}" if term is not None else f"record: {rule}",)


class Qualifier(enum.Enum):
    """RFC 7208 §4.6.2: the result a matching mechanism yields."""

    PASS = "+"
    FAIL = "-"
    SOFTFAIL = "~"
    NEUTRAL = "?"


class MechanismKind(enum.Enum):
    """RFC 7208 §5."""

    ALL = "all"
    INCLUDE = "include"
    A = "a"
    MX = "mx"
    PTR = "ptr"
    IP4 = "ip4"
    IP6 = "ip6"
    EXISTS = "exists"


class ModifierKind(enum.Enum):
    """RFC 7208 §6; any other name is an unknown modifier, kept and ignored (§6/3)."""

    REDIRECT = "redirect"
    EXP = "exp"
    UNKNOWN = "unknown"


# RFC 7208 §4.6.4: the terms that cost a DNS-querying "lookup" (ip4/ip6/all do not).
DNS_MECHANISMS = frozenset({MechanismKind.INCLUDE, MechanismKind.A, MechanismKind.MX, MechanismKind.PTR,
                            MechanismKind.EXISTS})


# --------------------------------------------------------------------------- macros (§7)


class MacroLetter(enum.Enum):
    """RFC 7208 §7.2."""

    SENDER = "s"  # <sender>
    LOCAL_PART = "l"  # local-part of <sender>
    SENDER_DOMAIN = "o"  # domain of <sender>
    DOMAIN = "d"  # <domain>
    IP = "i"  # <ip>, dotted (IPv6: 32 dot-separated nibbles)
    PTR = "p"  # the validated domain name of <ip> (do not use)
    IP_VERSION = "v"  # "in-addr" or "ip6"
    HELO = "h"  # HELO/EHLO domain
    CLIENT_IP = "c"  # SMTP client IP, human-readable (exp only)
    RECEIVER = "r"  # domain name of the host performing the check (exp only)
    TIMESTAMP = "t"  # current time in seconds since the epoch (exp only)


# RFC 7208 §7.2: "The following macro letters are allowed only in "exp" text: c, r, t".
EXPLANATION_ONLY = frozenset({MacroLetter.CLIENT_IP, MacroLetter.RECEIVER, MacroLetter.TIMESTAMP})
_LETTERS = {m.value: m for m in MacroLetter}


@dataclass(frozen=True, slots=True)
class Macro:
    """One ``%{...}`` macro-expand (RFC 7208 §7.1): letter, transformers, delimiters."""

    letter: MacroLetter
    digits: int | None = None  # keep this many right-hand parts (§7.3: nonzero)
    reverse: bool = False
    delimiters: str = ""  # empty: split on "." (§7.3)
    url_escape: bool = False  # upper-case letter (§7.3)

    def to_text(self) -> str:
        letter = self.letter.value.upper() if self.url_escape else self.letter.value
        digits = "" if self.digits is None else str(self.digits)
        return f"%{{{letter}{digits}{'r' if self.reverse else ''}{self.delimiters}}}"


MacroPart = str | Macro  # a literal (escapes %% %_ %- already decoded) or a macro


# macro-expand = ( "%{" macro-letter transformers *delimiter "}" ) / "%%" / "%_" / "%-"  (§7.1)
_MACRO_TOKEN = re.compile(r"%(?:\{([A-Za-z])(\d*)([rR]?)([.\-+,/_=]*)\}|([%_-]))")
_ESCAPES = {"%": "%", "_": " ", "-": "%20"}
# macro-literal = %x21-24 / %x26-7E (visible characters except "%"); explain-string adds SP (§6.2)
_LITERAL = re.compile(r"[\x21-\x24\x26-\x7e]*")
_EXPLAIN_LITERAL = re.compile(r"[\x20-\x24\x26-\x7e]*")
# toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )  (§7.1)
_DOMAIN_END = re.compile(r"\.(?:[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*|[A-Za-z0-9]+-[A-Za-z0-9-]*[A-Za-z0-9])\.?\Z")


class MacroContext(enum.Enum):
    """Where a macro-string appears, which decides what it may contain (RFC 7208 §6.2, §7.1, §7.2)."""

    DOMAIN_SPEC = "domain-spec"  # no SP; no c, r, t
    UNKNOWN_MODIFIER = "unknown-modifier"  # no SP; any macro-letter (never expanded)
    EXPLANATION = "explanation"  # the TXT text exp= points to: SP allowed; c, r, t allowed


@dataclass(frozen=True, slots=True)
class MacroString:
    """A parsed macro-string (RFC 7208 §7.1): ``text`` as written, ``parts`` for expansion."""

    text: str
    parts: tuple[MacroPart, ...]
    # The expansion when it needs no check context (no ``%{...}``), else ``None``.
    literal: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        constant = all(isinstance(p, str) for p in self.parts)
        object.__setattr__(self, "literal", "".join(self.parts) if constant else None)  # type: ignore[arg-type]

    @property
    def uses_macros(self) -> bool:
        """Whether expansion depends on the check (any ``%{...}``; ``%%``/``%_``/``%-`` are constants)."""
        return self.literal is None

    def to_text(self) -> str:
        return self.text

    @classmethod
    def parse(cls, text: str, context: MacroContext = MacroContext.DOMAIN_SPEC,
              term: str | None = None) -> MacroString:
        """Parse a macro-string written in ``context``; errors name ``term`` (default: ``text``)."""
        parts, _ = _tokenize(text, context, term if term is not None else text)
        return cls(text, parts)


def _tokenize(text: str, context: MacroContext, where: str) -> tuple[tuple[MacroPart, ...], int]:
    """The parts of a macro-string, and where its literal tail starts (after its last macro-expand)."""
    literal_re = _EXPLAIN_LITERAL if context is MacroContext.EXPLANATION else _LITERAL
    parts: list[MacroPart] = []
    pos = 0
    while True:
        idx = text.find("%", pos)
        chunk = text[pos:] if idx < 0 else text[pos:idx]
        if not literal_re.fullmatch(chunk):
            extra = " or SP" if context is MacroContext.EXPLANATION else ""
            raise SpfSyntaxError(where, f"RFC 7208 §7.1: a macro-literal is a visible ASCII character{extra}")
        if chunk:
            _append_literal(parts, chunk)
        if idx < 0:
            return tuple(parts), pos
        match = _MACRO_TOKEN.match(text, idx)
        if match is None:
            raise SpfSyntaxError(where, "RFC 7208 §7.1: '%' must be followed by '{', '%', '_' or '-'")
        if match.group(5):
            _append_literal(parts, _ESCAPES[match.group(5)])
        else:
            parts.append(_macro(match, where, context))
        pos = match.end()


def _append_literal(parts: list[MacroPart], literal: str) -> None:
    if parts and isinstance(parts[-1], str):
        parts[-1] += literal
    else:
        parts.append(literal)


def _macro(match: re.Match[str], where: str, context: MacroContext) -> Macro:
    raw_letter, digits, reverse, delimiters = match.group(1, 2, 3, 4)
    letter = _LETTERS.get(raw_letter.lower())
    if letter is None:
        raise SpfSyntaxError(where, f"RFC 7208 §7.1: unknown macro letter {raw_letter!r}")
    if letter in EXPLANATION_ONLY and context is MacroContext.DOMAIN_SPEC:
        raise SpfSyntaxError(where, "RFC 7208 §7.2: the c, r and t macros are allowed only in explanation text")
    count = int(digits) if digits else None
    if count == 0:
        raise SpfSyntaxError(where, "RFC 7208 §7.3: a macro's DIGIT transformer must be nonzero")
    return Macro(letter, count, bool(reverse), delimiters, raw_letter.isupper())


def parse_domain_spec(text: str, term: str | None = None) -> MacroString:
    """A domain-spec: a macro-string ending in a macro-expand or ``"." toplabel ["."]`` (RFC 7208 §7.1)."""
    where = term if term is not None else text
    if not text:
        raise SpfSyntaxError(where, "RFC 7208 §7.1: a domain-spec must not be empty")
    parts, tail = _tokenize(text, MacroContext.DOMAIN_SPEC, where)
    if tail < len(text) and not _DOMAIN_END.search(text, tail):
        raise SpfSyntaxError(where, "RFC 7208 §7.1: a domain-spec must end in a macro or in '.' and a valid "
                                    "top label (not all-numeric, no leading or trailing '-')")
    return MacroString(text, parts)


# --------------------------------------------------------------------------- terms (§4.6.1, §5, §6)


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One directive: qualifier + mechanism (RFC 7208 §4.6.2, §5).

    ``domain_spec`` is the written domain-spec of include/a/mx/ptr/exists
    (``None``: the current domain, allowed for a/mx/ptr); ``network`` the
    ip4/ip6 network; ``cidr4``/``cidr6`` the dual-cidr-length of a/mx
    (``None``: /32 and /128).
    """

    kind: MechanismKind
    qualifier: Qualifier = Qualifier.PASS
    domain_spec: str | None = None
    network: IPNetwork | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    target: MacroString | None = field(init=False, repr=False, compare=False)
    text: str = field(init=False, repr=False, compare=False)  # canonical, see to_text()
    net_int: int = field(init=False, repr=False, compare=False)  # ip4/ip6: address >> shift
    shift: int = field(init=False, repr=False, compare=False)  # ip4/ip6: host bits

    def __post_init__(self) -> None:
        _check_mechanism(self)
        if self.cidr4 == 32:
            object.__setattr__(self, "cidr4", None)
        if self.cidr6 == 128:
            object.__setattr__(self, "cidr6", None)
        target = parse_domain_spec(self.domain_spec, self._name_text()) if self.domain_spec is not None else None
        object.__setattr__(self, "target", target)
        net_int = shift = 0
        if self.network is not None:
            shift = self.network.max_prefixlen - self.network.prefixlen
            net_int = int(self.network.network_address) >> shift
        object.__setattr__(self, "net_int", net_int)
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "text", self._render())

    def _name_text(self) -> str:
        return self.kind.value + (f":{self.domain_spec}" if self.domain_spec is not None else "")

    def _render(self) -> str:
        out = ("" if self.qualifier is Qualifier.PASS else self.qualifier.value) + self._name_text()
        if self.network is not None:
            out += f":{self.network.network_address}"
            if self.network.prefixlen != self.network.max_prefixlen:
                out += f"/{self.network.prefixlen}"
        if self.cidr4 is not None:
            out += f"/{self.cidr4}"
        if self.cidr6 is not None:
            out += f"//{self.cidr6}"
        return out

    def to_text(self) -> str:
        return self.text

    @property
    def uses_macros(self) -> bool:
        return self.target is not None and self.target.uses_macros

    @property
    def needs_dns(self) -> bool:
        """Counts against the 10 DNS-querying terms (RFC 7208 §4.6.4)."""
        return self.kind in DNS_MECHANISMS


def _check_mechanism(m: Mechanism) -> None:
    """Which parts each mechanism takes (RFC 7208 §5.1-§5.7)."""
    term = m.kind.value
    if m.domain_spec is not None and m.kind not in DNS_MECHANISMS:
        raise SpfSyntaxError(term, f"RFC 7208 §5: {term} takes no domain-spec")
    if m.domain_spec is None and m.kind in (MechanismKind.INCLUDE, MechanismKind.EXISTS):
        raise SpfSyntaxError(term, f"RFC 7208 §5.2/§5.7: {term} requires ':' and a domain-spec")
    wanted = {MechanismKind.IP4: ipaddress.IPv4Network, MechanismKind.IP6: ipaddress.IPv6Network}.get(m.kind)
    if wanted is None and m.network is not None:
        raise SpfSyntaxError(term, f"RFC 7208 §5.6: only ip4 and ip6 take a network, not {term}")
    if wanted is not None and not isinstance(m.network, wanted):
        raise SpfSyntaxError(term, f"RFC 7208 §5.6: {term} requires an IPv{term[-1]} network")
    if (m.cidr4 is not None or m.cidr6 is not None) and m.kind not in (MechanismKind.A, MechanismKind.MX):
        raise SpfSyntaxError(term, "RFC 7208 §5.3/§5.4: only a and mx take a dual-cidr-length")
    if m.cidr4 is not None and not 0 <= m.cidr4 <= 32:
        raise SpfSyntaxError(term, "RFC 7208 §5.6: ip4-cidr-length is 0 to 32")
    if m.cidr6 is not None and not 0 <= m.cidr6 <= 128:
        raise SpfSyntaxError(term, "RFC 7208 §5.6: ip6-cidr-length is 0 to 128")


@dataclass(frozen=True, slots=True)
class Modifier:
    """``name=value`` (RFC 7208 §6); ``name`` is stored lower-case (§4.6.1: names are case-insensitive)."""

    name: str
    value: str
    macro: MacroString = field(init=False, repr=False, compare=False)
    kind: ModifierKind = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _MODIFIER_NAME.fullmatch(self.name):
            raise SpfSyntaxError(f"{self.name}={self.value}",
                                 "RFC 7208 §12: name = ALPHA *( ALPHA / DIGIT / \"-\" / \"_\" / \".\" )")
        object.__setattr__(self, "name", self.name.lower())
        kind = _MODIFIER_KINDS.get(self.name, ModifierKind.UNKNOWN)
        object.__setattr__(self, "kind", kind)
        term = f"{self.name}={self.value}"
        if kind is ModifierKind.UNKNOWN:
            # unknown-modifier = name "=" macro-string (§12): checked, never expanded
            macro = MacroString.parse(self.value, MacroContext.UNKNOWN_MODIFIER, term)
        else:
            # redirect / explanation = name "=" domain-spec (§6.1, §6.2): "exp=" is a permerror (suite 6.2/4)
            macro = parse_domain_spec(self.value, term)
        object.__setattr__(self, "macro", macro)

    def to_text(self) -> str:
        return f"{self.name}={self.value}"

    @property
    def uses_macros(self) -> bool:
        return self.macro.uses_macros


_MODIFIER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")
_MODIFIER_KINDS = {"redirect": ModifierKind.REDIRECT, "exp": ModifierKind.EXP}
Term = Mechanism | Modifier


# --------------------------------------------------------------------------- parsing terms

_MODIFIER_TERM = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", re.S)
_DIRECTIVE = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9]*)(.*)", re.S)
_KINDS = {k.value: k for k in MechanismKind}
_QUALIFIERS = {q.value: q for q in Qualifier}
# dual-cidr-length = [ ip4-cidr-length ] [ "/" ip6-cidr-length ]  (§5.3, with RFC 7208's no-leading-zero rule)
_CIDR4 = r"(?:/(0|[1-9][0-9]?))?"
_CIDR6 = r"(?:/(0|[1-9][0-9]{0,2}))?"
_DUAL_CIDR = re.compile(_CIDR4 + r"(?://(0|[1-9][0-9]{0,2}))?")
_DOMAIN_DUAL_CIDR = re.compile(r"(.*?)" + _DUAL_CIDR.pattern, re.S)  # shortest domain, longest cidr suffix
_IP4_NETWORK = re.compile(r"([0-9.]+)" + _CIDR4, re.S)
_IP6_NETWORK = re.compile(r"([0-9A-Fa-f:.]+)" + _CIDR6, re.S)


def parse_term(text: str) -> Term:
    """One term of a record (RFC 7208 §4.6.1, §12)."""
    match = _MODIFIER_TERM.fullmatch(text)
    if match:
        return Modifier(match.group(1), match.group(2))
    match = _DIRECTIVE.fullmatch(text)
    kind = _KINDS.get(match.group(2).lower()) if match else None
    if match is None or kind is None:
        raise SpfSyntaxError(text, "RFC 7208 §12: not a mechanism (all, include, a, mx, ptr, ip4, ip6, exists) "
                                   "nor a modifier (name=value)")
    qualifier = _QUALIFIERS.get(match.group(1), Qualifier.PASS)
    rest = match.group(3)
    if kind is MechanismKind.ALL:
        if rest:
            raise SpfSyntaxError(text, "RFC 7208 §5.1: all = \"all\", with no argument")
        return Mechanism(kind, qualifier)
    if kind in (MechanismKind.IP4, MechanismKind.IP6):
        return Mechanism(kind, qualifier, network=_parse_network(kind, rest, text))
    if kind in (MechanismKind.A, MechanismKind.MX):
        return _parse_dual_cidr_mechanism(kind, qualifier, rest, text)
    if not rest:  # ptr; include/exists fail in Mechanism validation
        return _mechanism(text, kind, qualifier)
    if not rest.startswith(":"):
        raise SpfSyntaxError(text, f"RFC 7208 §5: {kind.value} takes only ':' and a domain-spec")
    return _mechanism(text, kind, qualifier, domain_spec=rest[1:])


def _mechanism(text: str, kind: MechanismKind, qualifier: Qualifier, domain_spec: str | None = None,
               cidr4: int | None = None, cidr6: int | None = None) -> Mechanism:
    """Build a mechanism, reporting errors against the term as written."""
    try:
        return Mechanism(kind, qualifier, domain_spec, None, cidr4, cidr6)
    except SpfSyntaxError as exc:
        raise SpfSyntaxError(text, exc.rule) from None


def _parse_dual_cidr_mechanism(kind: MechanismKind, qualifier: Qualifier, rest: str, text: str) -> Mechanism:
    """a / mx = name [ ":" domain-spec ] [ dual-cidr-length ]  (RFC 7208 §5.3, §5.4)."""
    if rest.startswith(":"):
        match = _DOMAIN_DUAL_CIDR.fullmatch(rest, 1)
        domain: str | None = match.group(1) if match else None
    else:
        match = _DUAL_CIDR.fullmatch(rest)
        domain = None
    if match is None:
        raise SpfSyntaxError(text, f"RFC 7208 §5.{3 if kind is MechanismKind.A else 4}: {kind.value} takes "
                                   "[':' domain-spec] ['/' ip4-cidr] ['//' ip6-cidr]")
    c4, c6 = match.group(match.re.groups - 1), match.group(match.re.groups)
    return _mechanism(text, kind, qualifier, domain_spec=domain,
                      cidr4=int(c4) if c4 else None, cidr6=int(c6) if c6 else None)


def _parse_network(kind: MechanismKind, rest: str, text: str) -> IPNetwork:
    """ip4 = "ip4" ":" ip4-network [ ip4-cidr-length ], likewise ip6 (RFC 7208 §5.6)."""
    pattern = _IP4_NETWORK if kind is MechanismKind.IP4 else _IP6_NETWORK
    match = pattern.fullmatch(rest, 1) if rest.startswith(":") else None
    try:
        if match is None:
            raise ValueError(text)
        address = ipaddress.ip_address(match.group(1))
        prefix = int(match.group(2)) if match.group(2) else address.max_prefixlen
        if address.version != (4 if kind is MechanismKind.IP4 else 6) or prefix > address.max_prefixlen:
            raise ValueError(text)
        return ipaddress.ip_network((address, prefix), strict=False)
    except ValueError:
        bits = "0 to 32" if kind is MechanismKind.IP4 else "0 to 128"
        raise SpfSyntaxError(text, f"RFC 7208 §5.6: {kind.value}:<address>[/<prefix {bits}>], the address in "
                                   "full (no leading zeros, no omitted parts)") from None


# --------------------------------------------------------------------------- the record (§4.5, §4.6)


def is_spf_record(text: str) -> bool:
    """Whether a TXT string is an SPF record: "v=spf1" then SP or the end, any case (RFC 7208 §4.5)."""
    return text[:6].lower() == VERSION and (len(text) == 6 or text[6] == " ")


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A whole SPF record: its terms in order (RFC 7208 §4.6)."""

    terms: tuple[Term, ...] = ()
    mechanisms: tuple[Mechanism, ...] = field(init=False, repr=False, compare=False)
    redirect: Modifier | None = field(init=False, repr=False, compare=False)
    explanation: Modifier | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "terms", tuple(self.terms))
        mechanisms = tuple(t for t in self.terms if isinstance(t, Mechanism))
        modifiers = [t for t in self.terms if isinstance(t, Modifier)]
        for kind in (ModifierKind.REDIRECT, ModifierKind.EXP):
            found = [m for m in modifiers if m.kind is kind]
            if len(found) > 1:
                raise SpfSyntaxError(found[1].to_text(), f"RFC 7208 §6: {kind.value}= must not appear twice")
        object.__setattr__(self, "mechanisms", mechanisms)
        object.__setattr__(self, "redirect", next((m for m in modifiers if m.kind is ModifierKind.REDIRECT), None))
        object.__setattr__(self, "explanation", next((m for m in modifiers if m.kind is ModifierKind.EXP), None))

    @classmethod
    def from_text(cls, text: str) -> SpfRecord:
        """Parse a record (TXT strings already joined, RFC 7208 §3.3); any error anywhere raises (§4.6)."""
        if not is_spf_record(text):
            raise SpfSyntaxError(None, "RFC 7208 §4.5: an SPF record begins with \"v=spf1\" then SP or the end")
        return cls(tuple(parse_term(term) for term in text[6:].split(" ") if term))

    def to_text(self) -> str:
        return " ".join((VERSION, *(t.to_text() for t in self.terms)))

    def __str__(self) -> str:
        return self.to_text()

    @property
    def modifiers(self) -> tuple[Modifier, ...]:
        return tuple(t for t in self.terms if isinstance(t, Modifier))

    @property
    def has_all(self) -> bool:
        return any(m.kind is MechanismKind.ALL for m in self.mechanisms)

    @property
    def effective_redirect(self) -> Modifier | None:
        """``redirect=``, unless an ``all`` mechanism makes it dead (RFC 7208 §6.1)."""
        return None if self.has_all else self.redirect

    def dns_lookup_terms(self) -> int:
        """Terms of this record that count against the limit of 10 (RFC 7208 §4.6.4).

        include, a, mx, ptr, exists, and redirect unless the record has an
        ``all`` (then redirect is never followed, §6.1). Terms of included or
        redirected-to records are not counted here.
        """
        count = sum(1 for m in self.mechanisms if m.kind in DNS_MECHANISMS)
        return count + (1 if self.effective_redirect is not None else 0)

    @property
    def uses_macros(self) -> bool:
        """Whether any mechanism or modifier expands a ``%{...}`` macro."""
        return any(t.uses_macros for t in self.terms)
