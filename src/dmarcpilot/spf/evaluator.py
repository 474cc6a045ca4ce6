"""RFC 7208 check_host(): record lookup and selection, mechanisms, modifiers, limits, explanation.

The resolver is injected (a :class:`~dmarcpilot.dnsclient.DnsClient`); the
result is data (:class:`~dmarcpilot.spf.result.SpfOutcome`), never an
exception. Records are parsed once per distinct text (an LRU cache of
immutable :class:`~dmarcpilot.records.spf.SpfRecord` values), so a check
costs its DNS questions and little else.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import NamedTuple

from dmarcpilot.dnsclient import DnsClient, DnsStatus
from dmarcpilot.records.spf import (
    MacroContext,
    MacroString,
    Mechanism,
    MechanismKind,
    Modifier,
    SpfRecord,
    SpfSyntaxError,
    is_spf_record,
)
from dmarcpilot.spf.context import CheckContext, IPAddress, SpfAbort, address_int, permerror, temperror
from dmarcpilot.spf.macros import MAX_LABEL, MAX_NAME, expand, expand_domain, finish_domain
from dmarcpilot.spf.result import QUALIFIER_RESULTS, SpfLimits, SpfOutcome, SpfResult, TraceTerm

DEFAULT_LIMITS = SpfLimits()


@functools.lru_cache(maxsize=4096)
def parse_record(text: str) -> SpfRecord | SpfSyntaxError:
    """An SPF record text parsed once (values are immutable), or the syntax error it raises."""
    try:
        return SpfRecord.from_text(text)
    except SpfSyntaxError as exc:
        return exc


@functools.lru_cache(maxsize=4096)
def select_record(records: tuple[str, ...]) -> SpfRecord | SpfSyntaxError | int:
    """RFC 7208 §4.5 on a TXT answer: the one SPF record parsed, its syntax error, or how many there are (0, 2+)."""
    texts = [text for text in records if is_spf_record(text)]
    return parse_record(texts[0]) if len(texts) == 1 else len(texts)


class _Verdict(NamedTuple):  # internal, one per record evaluated: a NamedTuple is cheaper to make
    result: SpfResult
    mechanism: Mechanism | None  # the matching mechanism (None: default result)
    domain: str  # whose record decided
    record: SpfRecord | None  # whose exp= explains a fail (§6.2)


# --------------------------------------------------------------------------- public entry points


async def check_host(ip: IPAddress | str, domain: str, sender: str, *, client: DnsClient,
                     helo: str | None = None, receiver: str = "unknown",
                     limits: SpfLimits = DEFAULT_LIMITS) -> SpfOutcome:
    """RFC 7208 §4: the SPF result for ``ip`` sending as ``sender`` with ``domain``'s published record.

    ``sender`` is ``local-part@domain`` (the MAIL FROM, or ``postmaster@``
    the HELO name: see :func:`spf_identity`); ``helo`` feeds ``%{h}``
    (``"unknown"`` when not given); ``receiver`` feeds ``%{r}`` in
    explanations. ``ip`` may be text; text that is no address raises
    ``ValueError`` (a caller's mistake, not an SPF result).
    """
    ctx = CheckContext(client, limits, _address(ip), sender, helo, receiver)
    return await _run(ctx, domain, None)


async def evaluate_record(record: SpfRecord | str, ip: IPAddress | str, domain: str, sender: str, *,
                          client: DnsClient, helo: str | None = None, receiver: str = "unknown",
                          limits: SpfLimits = DEFAULT_LIMITS) -> SpfOutcome:
    """check_host() as if ``record`` were the one published at ``domain`` (nothing is fetched for it).

    Includes, redirects and the other mechanisms still ask ``client``. A
    text that does not parse gives a permerror outcome, as it would in DNS.
    """
    ctx = CheckContext(client, limits, _address(ip), sender, helo, receiver)
    if isinstance(record, str):
        parsed = parse_record(record)
        if isinstance(parsed, SpfSyntaxError):
            return SpfOutcome(SpfResult.PERMERROR, domain=domain, reason=str(parsed), term=parsed.term)
        record = parsed
    return await _run(ctx, domain, record)


def spf_identity(mail_from: str, helo: str) -> tuple[str, str]:
    """``(domain, sender)`` to check for an SMTP session (RFC 7208 §2.4, §4.3).

    The MAIL FROM's domain; for the null reverse-path, ``postmaster@`` the HELO name.
    """
    if mail_from.startswith("<") and mail_from.endswith(">"):
        mail_from = mail_from[1:-1]
    if not mail_from:
        return helo, f"postmaster@{helo}"
    _local, at, domain = mail_from.rpartition("@")
    return (domain, mail_from) if at else (mail_from, f"postmaster@{mail_from}")


async def check_mail_from(ip: IPAddress | str, mail_from: str, helo: str, *, client: DnsClient,
                          receiver: str = "unknown", limits: SpfLimits = DEFAULT_LIMITS) -> SpfOutcome:
    """The MAIL FROM identity check of RFC 7208 §2.4 (HELO's when the reverse-path is null)."""
    domain, sender = spf_identity(mail_from, helo)
    return await check_host(ip, domain, sender, client=client, helo=helo, receiver=receiver, limits=limits)


def _address(ip: IPAddress | str) -> IPAddress:
    return ipaddress.ip_address(ip) if isinstance(ip, str) else ip


# --------------------------------------------------------------------------- the run


def domain_problem(domain: str) -> str | None:
    """Why ``domain`` cannot be checked at all (RFC 7208 §4.3 → result none), or ``None``."""
    name = domain[:-1] if domain.endswith(".") else domain
    if not name.isascii():
        return "not an ASCII domain name"
    if name.startswith("["):
        return "a domain literal, not a domain name"
    labels = name.split(".")
    if len(labels) < 2:
        return "not a multi-label domain name"
    if len(name) > MAX_NAME or any(not label or len(label) > MAX_LABEL for label in labels):
        return "malformed: an empty label, a label over 63 characters or a name over 253"
    return None


async def _run(ctx: CheckContext, domain: str, record: SpfRecord | None) -> SpfOutcome:
    problem = domain_problem(domain)
    if problem is not None:
        return SpfOutcome(SpfResult.NONE, domain=domain, reason=f"{domain!r}: {problem} (RFC 7208 §4.3)")
    domain = domain[:-1] if domain.endswith(".") else domain
    try:
        verdict, explanation = await _decide(ctx, domain, record)
    except SpfAbort as abort:
        return SpfOutcome(abort.result, None, ctx.current_term, ctx.current_domain or domain, abort.reason,
                          tuple(ctx.trace), ctx.lookups, ctx.voids)
    mechanism = verdict.mechanism
    return SpfOutcome(verdict.result, explanation, mechanism.text if mechanism is not None else None,
                      verdict.domain, None, tuple(ctx.trace), ctx.lookups, ctx.voids)


async def _decide(ctx: CheckContext, domain: str, record: SpfRecord | None) -> tuple[_Verdict, str | None]:
    verdict = await (_check_host(ctx, domain) if record is None else _evaluate(ctx, record, domain))
    explanation = None
    if verdict.result is SpfResult.FAIL and verdict.record is not None and verdict.record.explanation is not None:
        explanation = await _explain(ctx, verdict.record.explanation, verdict.domain)
    return verdict, explanation


async def _check_host(ctx: CheckContext, domain: str) -> _Verdict:
    return await _evaluate(ctx, await _fetch_record(ctx, domain), domain)


async def _fetch_record(ctx: CheckContext, domain: str) -> SpfRecord:
    """RFC 7208 §4.4 record lookup (TXT only, §3.1) and §4.5 selection; raises none/permerror/temperror."""
    answer = await ctx.query(domain, "TXT")
    status = answer.status
    if status is DnsStatus.TIMEOUT or status is DnsStatus.SERVFAIL:
        raise temperror(f"TXT lookup of {domain}: {status.value} (RFC 7208 §4.4)")
    if status is not DnsStatus.OK:
        raise SpfAbort(SpfResult.NONE, f"TXT lookup of {domain}: {status.value} (RFC 7208 §4.4)")
    parsed = select_record(answer.records)
    if isinstance(parsed, int):
        if parsed == 0:
            raise SpfAbort(SpfResult.NONE, f"no SPF record at {domain} (RFC 7208 §4.5)")
        raise permerror(f"{parsed} SPF records at {domain} (RFC 7208 §4.5)")
    if isinstance(parsed, SpfSyntaxError):
        ctx.current_domain, ctx.current_term = domain, parsed.term
        raise permerror(f"{domain}: {parsed} (RFC 7208 §4.6)")
    return parsed


async def _evaluate(ctx: CheckContext, record: SpfRecord, domain: str) -> _Verdict:
    """RFC 7208 §4.6: mechanisms left to right, the first match decides; then redirect= (§6.1); else neutral (§4.7)."""
    trace = ctx.trace
    v6 = ctx.v6
    for mechanism in record.mechanisms:
        kind = mechanism.kind
        ctx.current_term, ctx.current_domain = mechanism.text, domain
        if kind is MechanismKind.IP4:  # §5.6
            matched = not v6 and ctx.ip_int >> mechanism.shift == mechanism.net_int
        elif kind is MechanismKind.IP6:
            matched = v6 and ctx.ip_int >> mechanism.shift == mechanism.net_int
        elif kind is MechanismKind.ALL:  # §5.1
            matched = True
        elif kind is MechanismKind.INCLUDE:
            matched = await _include(ctx, mechanism, domain)
        elif kind is MechanismKind.A:
            matched = await _a(ctx, mechanism, domain)
        elif kind is MechanismKind.MX:
            matched = await _mx(ctx, mechanism, domain)
        elif kind is MechanismKind.EXISTS:
            matched = await _exists(ctx, mechanism, domain)
        else:
            matched = await _ptr(ctx, mechanism, domain)
        trace.append(TraceTerm(domain, mechanism.text, matched))
        if matched:
            return _Verdict(QUALIFIER_RESULTS[mechanism.qualifier], mechanism, domain, record)
    if record.redirect is not None:  # only reached without "all" (§6.1: else it is ignored)
        return await _redirect(ctx, record.redirect, domain)
    return _Verdict(SpfResult.NEUTRAL, None, domain, None)


async def _redirect(ctx: CheckContext, modifier: Modifier, domain: str) -> _Verdict:
    """RFC 7208 §6.1: the result of check_host() on the target, which becomes <domain>."""
    text = modifier.to_text()
    ctx.current_term, ctx.current_domain = text, domain
    ctx.count_lookup()
    target = await expand_domain(modifier.macro, ctx, domain)
    ctx.trace.append(TraceTerm(domain, text, True))
    if target is None:
        raise permerror("redirect= target is not a domain name (RFC 7208 §6.1)")
    try:
        return await _check_host(ctx, target)
    except SpfAbort as abort:
        if abort.result is SpfResult.NONE:  # §6.1: no record at the target is a permerror
            ctx.current_term, ctx.current_domain = text, domain
            raise permerror(f"redirect={target}: {abort.reason} (RFC 7208 §6.1)") from None
        raise


# --------------------------------------------------------------------------- mechanisms (§5)


async def _target(ctx: CheckContext, mechanism: Mechanism, domain: str) -> str | None:
    """The <target-name> (RFC 7208 §4.8): the expanded domain-spec, or <domain> when there is none."""
    spec = mechanism.target
    if spec is None:
        return domain
    if spec.literal is not None:
        return finish_domain(spec.literal)
    return await expand_domain(spec, ctx, domain)


def _any_address_matches(ctx: CheckContext, records: tuple[str, ...], mechanism: Mechanism) -> bool:
    """Whether <ip> is in any ``address/cidr`` (RFC 7208 §5.3, §5.4: dual-cidr-length per family)."""
    if ctx.v6:
        shift = 128 - (mechanism.cidr6 if mechanism.cidr6 is not None else 128)
    else:
        shift = 32 - (mechanism.cidr4 if mechanism.cidr4 is not None else 32)
    want = ctx.ip_int >> shift
    for text in records:
        value = address_int(text, ctx.v6)
        if value is not None and value >> shift == want:
            return True
    return False


async def _include(ctx: CheckContext, mechanism: Mechanism, domain: str) -> bool:
    """RFC 7208 §5.2: matches when the target's check_host() passes; none there is a permerror."""
    ctx.count_lookup()
    target = await _target(ctx, mechanism, domain)
    if target is None:
        raise permerror("include target is not a domain name (RFC 7208 §5.2)")
    try:
        verdict = await _check_host(ctx, target)
    except SpfAbort as abort:
        if abort.result is SpfResult.NONE:
            ctx.current_term, ctx.current_domain = mechanism.text, domain
            raise permerror(f"include:{target}: {abort.reason} (RFC 7208 §5.2)") from None
        raise
    return verdict.result is SpfResult.PASS


async def _a(ctx: CheckContext, mechanism: Mechanism, domain: str) -> bool:
    """RFC 7208 §5.3: an A (IPv4) or AAAA (IPv6) record of the target within the cidr."""
    ctx.count_lookup()
    target = await _target(ctx, mechanism, domain)
    if target is None:
        return False
    answer = await ctx.query_term(target, ctx.address_rdtype)
    return _any_address_matches(ctx, answer.records, mechanism)


async def _mx(ctx: CheckContext, mechanism: Mechanism, domain: str) -> bool:
    """RFC 7208 §5.4: an address of any MX host of the target; more than 10 MX names is a permerror (§4.6.4)."""
    ctx.count_lookup()
    target = await _target(ctx, mechanism, domain)
    if target is None:
        return False
    answer = await ctx.query_term(target, "MX")
    if len(answer.records) > ctx.limits.mx_names:
        raise permerror(f"{target} has {len(answer.records)} MX records, more than "
                        f"{ctx.limits.mx_names} (RFC 7208 §4.6.4)")
    for record in answer.records:
        host = record.rpartition(" ")[2]
        if host in (".", ""):  # RFC 7505 null MX: no mail host
            continue
        addresses = await ctx.query_term(host, ctx.address_rdtype, void_counts=False)
        if _any_address_matches(ctx, addresses.records, mechanism):
            return True
    return False


async def _ptr(ctx: CheckContext, mechanism: Mechanism, domain: str) -> bool:
    """RFC 7208 §5.5: a validated PTR name of <ip> that is the target or below it.

    A void PTR answer counts against the void lookup limit (§4.6.4), as at
    Mail::SPF and pyspf receivers; the %{p} macro's lookup does not count.
    """
    ctx.count_lookup()
    target = await _target(ctx, mechanism, domain)
    if target is None:
        return False
    names = await ctx.ptr_mechanism_names()
    return await ctx.validated_name(target, subdomains_only=True, names=names) is not None


async def _exists(ctx: CheckContext, mechanism: Mechanism, domain: str) -> bool:
    """RFC 7208 §5.7: any A record at the target (A even for an IPv6 <ip>)."""
    ctx.count_lookup()
    target = await _target(ctx, mechanism, domain)
    if target is None:
        return False
    answer = await ctx.query_term(target, "A")
    return answer.status is DnsStatus.OK and bool(answer.records)


# --------------------------------------------------------------------------- explanation (§6.2)


async def _explain(ctx: CheckContext, modifier: Modifier, domain: str) -> str | None:
    """RFC 7208 §6.2: the expanded TXT text at the exp= target; any problem means no explanation.

    Not counted against the lookup limits (§4.6.4 lists no exp).
    """
    target = await expand_domain(modifier.macro, ctx, domain)
    if target is None:
        return None
    answer = await ctx.query(target, "TXT")
    if answer.status is not DnsStatus.OK or len(answer.records) != 1:
        return None
    text = answer.records[0]
    if not text.isascii():  # §6.2: the explanation string is US-ASCII
        return None
    try:
        spec = MacroString.parse(text, MacroContext.EXPLANATION)
    except SpfSyntaxError:
        return None
    return await expand(spec, ctx, domain)
