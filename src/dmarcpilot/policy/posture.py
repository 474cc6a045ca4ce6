"""The posture check: what a domain really publishes in the DNS, judged by the RFCs and against dmarcpilot.

:func:`check_posture` asks an injected :class:`~dmarcpilot.dnsclient.DnsClient`
(DESIGN.md convention 2) for the domain's SPF, DMARC, DKIM, MTA-STS and
TLS-RPT records and returns typed results with :class:`Finding` values: a
severity, a stable code (``spf.too-many-lookups``) and a message naming the
record and the rule. Given the compiled
:class:`~dmarcpilot.policy.publish.Publication` it also compares the records
the organisation should hold in its own DNS with the live ones (drift). No
store and no printing here: ``dmarcpilot check`` compiles the publication and
renders the report.

What is not checked: the MTA-STS policy file (HTTPS, RFC 8461 §3.3) is not
fetched, and DKIM selectors cannot be discovered through the DNS, so only
the selectors given, held in the store or compiled are looked up.
"""

from __future__ import annotations

import asyncio
import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dmarcpilot.dnsclient import DnsAnswer, DnsClient, DnsStatus, normalize_name
from dmarcpilot.enrich.orgdomain import organizational_domain
from dmarcpilot.policy.publish import Publication
from dmarcpilot.policy.spftree import RecordingClient
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.records.dkim import DkimKeyRecord, KeyType, check_selector
from dmarcpilot.records.dmarc import DmarcRecord, Policy, ReportUri, external_destination_records
from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.mtasts import MtaStsRecord, policy_url
from dmarcpilot.records.spf import MacroString, Mechanism, MechanismKind, Qualifier, SpfRecord, SpfSyntaxError
from dmarcpilot.records.spf import is_spf_record as _is_spf
from dmarcpilot.records.tlsrpt import TlsRptRecord

OrgDomain = Callable[[str], str | None]

MAX_LOOKUPS = 10  # RFC 7208 §4.6.4: more DNS-querying terms in one check is a permerror
MAX_VOID_LOOKUPS = 2  # RFC 7208 §4.6.4: a third void lookup is a permerror
MAX_MX_NAMES = 10  # RFC 7208 §4.6.4: an mx term with more MX names is a permerror
WALK_LIMIT = 100  # the walk stops counting here, far past any record that works
MIN_RSA_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT accept smaller keys
GOOD_RSA_BITS = 2048  # RFC 8301 §3.2: signers SHOULD use at least 2048 bits


class Severity(enum.Enum):
    OK = "ok"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _RANKS[self]


_RANKS = {Severity.OK: 0, Severity.INFO: 1, Severity.WARNING: 2, Severity.ERROR: 3}


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation: ``code`` is a stable id (``area.what``), ``name`` the DNS name it is about."""

    severity: Severity
    code: str
    name: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"severity": self.severity.value, "code": self.code, "name": self.name, "message": self.message}


def _ok(code: str, name: str, message: str) -> Finding:
    return Finding(Severity.OK, code, name, message)


def _info(code: str, name: str, message: str) -> Finding:
    return Finding(Severity.INFO, code, name, message)


def _warning(code: str, name: str, message: str) -> Finding:
    return Finding(Severity.WARNING, code, name, message)


def _error(code: str, name: str, message: str) -> Finding:
    return Finding(Severity.ERROR, code, name, message)


def _failed(answer: DnsAnswer) -> bool:
    return answer.status in (DnsStatus.TIMEOUT, DnsStatus.SERVFAIL)


def _dns_error(area: str, name: str, rdtype: str, answer: DnsAnswer, rule: str) -> Finding:
    return _error(f"{area}.dns-error", name, f"{rdtype} {name}: {answer.status.value}, so it could not be "
                                             f"checked; receivers see a temporary error ({rule})")


def _tag_version(version: str) -> re.Pattern[str]:
    """A tag list that begins with ``v=VERSION`` (tag name any case, value exact), then ``;`` or the end."""
    return re.compile(r"[ \t]*[vV][ \t]*=[ \t]*" + re.escape(version) + r"[ \t]*(?:;|\Z)")


# =========================================================================== SPF (RFC 7208)


@dataclass(frozen=True)
class SpfCheck:
    """The SPF record at the domain: every ``v=spf1`` string, the one parsed, what a check of it costs."""

    name: str
    records: tuple[str, ...] = ()
    record: SpfRecord | None = None
    lookups: int | None = None  # DNS-querying terms a check reaches (RFC 7208 §4.6.4)
    void_lookups: int | None = None  # of those, answers with no records (NXDOMAIN or NODATA)
    findings: tuple[Finding, ...] = ()

    @property
    def all_term(self) -> str | None:
        """The record's ``all`` mechanism as written canonically (``~all``), or None."""
        if self.record is None:
            return None
        return next((m.to_text() for m in self.record.mechanisms if m.kind is MechanismKind.ALL), None)

    def to_dict(self) -> dict[str, Any]:
        redirect = self.record.effective_redirect if self.record else None
        return {"name": self.name, "records": list(self.records),
                "record": self.record.to_text() if self.record else None, "lookups": self.lookups,
                "lookup_limit": MAX_LOOKUPS, "void_lookups": self.void_lookups, "all": self.all_term,
                "redirect": redirect.value if redirect else None}


def _literal(target: MacroString | None, default: str) -> str:
    return normalize_name(target.literal) if target is not None and target.literal is not None else default


@dataclass
class _SpfWalk:
    """Walks a record as a check that matches nothing would (RFC 7208 §4.6): every term up to ``all``."""

    client: DnsClient
    lookups: int = 0
    voids: int = 0
    problems: list[str] = field(default_factory=list)  # permerrors below the record
    failures: list[str] = field(default_factory=list)  # temperrors
    unfollowed: list[str] = field(default_factory=list)  # targets depending on the message checked
    ptr: list[str] = field(default_factory=list)

    async def ask(self, name: str, rdtype: str) -> DnsAnswer | None:
        answer = await self.client.query(name, rdtype)
        if _failed(answer):
            self.failures.append(f"{rdtype} {name}: {answer.status.value}")
            return None
        return answer

    def void(self, answer: DnsAnswer | None) -> None:
        if answer is not None and answer.void:
            self.voids += 1

    async def record(self, domain: str, record: SpfRecord, chain: tuple[str, ...]) -> None:
        for mechanism in record.mechanisms:
            if mechanism.kind is MechanismKind.ALL:
                return  # RFC 7208 §5.1: nothing after all is tested; §6.1: redirect is then ignored
            await self.mechanism(domain, mechanism, chain)
        if record.redirect is not None:
            self.lookups += 1  # RFC 7208 §4.6.4: redirect counts
            if record.redirect.uses_macros:
                self.unfollowed.append(f"{domain}: {record.redirect.to_text()}")
            else:
                await self.follow(_literal(record.redirect.macro, domain), record.redirect.to_text(), chain)

    async def mechanism(self, domain: str, mechanism: Mechanism, chain: tuple[str, ...]) -> None:
        if not mechanism.needs_dns:
            return
        self.lookups += 1
        if mechanism.kind is MechanismKind.PTR:
            self.ptr.append(f"{domain}: {mechanism.to_text()}")
        if mechanism.kind is MechanismKind.PTR or mechanism.uses_macros:
            self.unfollowed.append(f"{domain}: {mechanism.to_text()}")
            return
        target = _literal(mechanism.target, domain)
        if mechanism.kind is MechanismKind.INCLUDE:
            await self.follow(target, mechanism.to_text(), chain)
        elif mechanism.kind is MechanismKind.MX:
            await self.mx(target, chain[-1])
        elif mechanism.kind is MechanismKind.EXISTS:
            self.void(await self.ask(target, "A"))
        else:
            await self.addresses(target, count_void=True)

    async def follow(self, target: str, term: str, chain: tuple[str, ...]) -> None:
        """include / redirect: the target's own record (RFC 7208 §5.2, §6.1)."""
        where = f"{chain[-1]}: {term}"
        if target in chain:
            self.problems.append(f"{where} loops back to {target}, so no check ends within the limit "
                                 "(RFC 7208 §4.6.4: permerror)")
            return
        if self.lookups > WALK_LIMIT:
            return
        answer = await self.ask(target, "TXT")
        if answer is None:
            return
        self.void(answer)
        texts = [t for t in answer.records if _is_spf(t)]
        if len(texts) != 1:
            self.problems.append(f"{where}: {target} has {len(texts) or 'no'} SPF records "
                                 "(RFC 7208 §4.5, §5.2, §6.1: permerror)")
            return
        try:
            record = SpfRecord.from_text(texts[0])
        except SpfSyntaxError as exc:
            self.problems.append(f"{where}: the record at {target} does not parse: {exc} (RFC 7208 §4.6: permerror)")
            return
        await self.record(target, record, (*chain, target))

    async def addresses(self, host: str, count_void: bool) -> None:
        answers = [await self.ask(host, rdtype) for rdtype in ("A", "AAAA")]
        if count_void and all(a is not None and a.void for a in answers):
            self.voids += 1  # neither family answers: void whatever the client's address family

    async def mx(self, domain: str, where: str) -> None:
        answer = await self.ask(domain, "MX")
        self.void(answer)
        hosts = [normalize_name(r.split()[-1]) for r in answer.records] if answer is not None else []
        if len(hosts) > MAX_MX_NAMES:
            self.problems.append(f"{where}: mx:{domain} has {len(hosts)} MX names, more than {MAX_MX_NAMES} "
                                 "(RFC 7208 §4.6.4: permerror)")
        for host in hosts[:MAX_MX_NAMES]:
            await self.addresses(host, count_void=False)


async def check_spf(domain: str, client: DnsClient) -> SpfCheck:
    """The SPF record at ``domain``: one record (§4.5), parses (§4.6), within the limits (§4.6.4)."""
    answer = await client.query(domain, "TXT")
    if _failed(answer):
        return SpfCheck(domain, findings=(_dns_error("spf", domain, "TXT", answer, "RFC 7208 §4.4: temperror"),))
    texts = tuple(t for t in answer.records if _is_spf(t))
    if not texts:
        return SpfCheck(domain, findings=(_error("spf.missing", domain, f"no v=spf1 TXT record at {domain}: "
                                                 "every check gives SPF result none (RFC 7208 §4.5)"),))
    if len(texts) > 1:
        return SpfCheck(domain, texts, findings=(_error(
            "spf.several-records", domain, f"{len(texts)} v=spf1 TXT records at {domain}: every check gives "
            "permerror; publish exactly one (RFC 7208 §4.5)"),))
    try:
        record = SpfRecord.from_text(texts[0])
    except SpfSyntaxError as exc:
        return SpfCheck(domain, texts, findings=(_error(
            "spf.syntax", domain, f"the SPF record at {domain} does not parse: {exc} (RFC 7208 §4.6: permerror)"),))
    walk = _SpfWalk(client)
    await walk.record(domain, record, (domain,))
    return SpfCheck(domain, texts, record, walk.lookups, walk.voids, tuple(_spf_findings(domain, record, walk)))


def _spf_findings(domain: str, record: SpfRecord, walk: _SpfWalk) -> list[Finding]:
    out = []
    if walk.lookups > MAX_LOOKUPS:
        more = "more than " if walk.lookups > WALK_LIMIT else ""
        out.append(_error("spf.too-many-lookups", domain, f"a check of the SPF record at {domain} needs "
                          f"{more}{walk.lookups} DNS lookups (include, a, mx, ptr, exists, redirect); more than "
                          f"{MAX_LOOKUPS} is a permerror (RFC 7208 §4.6.4)"))
    else:
        out.append(_ok("spf.lookups", domain, f"a check of the SPF record at {domain} needs {walk.lookups} of "
                       f"at most {MAX_LOOKUPS} DNS lookups (RFC 7208 §4.6.4)"))
    if walk.voids > MAX_VOID_LOOKUPS:
        out.append(_error("spf.too-many-void-lookups", domain, f"{walk.voids} lookups of the SPF record at "
                          f"{domain} find no records; more than {MAX_VOID_LOOKUPS} is a permerror (RFC 7208 §4.6.4)"))
    elif walk.voids:
        out.append(_info("spf.void-lookups", domain, f"{walk.voids} lookup(s) of the SPF record at {domain} "
                         f"find no records (at most {MAX_VOID_LOOKUPS} allowed, RFC 7208 §4.6.4)"))
    out += [_error("spf.include-error", domain, problem) for problem in walk.problems]
    out += [_error("spf.dns-error", domain, f"{failure}: checks of the SPF record at {domain} give temperror "
                   "(RFC 7208 §4.4, §5.2)") for failure in walk.failures]
    out += [_warning("spf.ptr", domain, f"{term}: ptr SHOULD NOT be used; it is slow and unreliable "
                     "(RFC 7208 §5.5)") for term in walk.ptr]
    out += [_info("spf.not-followed", domain, f"{term}: the target depends on the message checked (macros, "
                  "RFC 7208 §7; ptr, §5.5), counted once and not followed") for term in walk.unfollowed]
    out.append(_all_finding(domain, record))
    return out


def _all_finding(domain: str, record: SpfRecord) -> Finding:
    """What the record says about every other host (RFC 7208 §5.1, §4.7, §6.1)."""
    closing = next((m for m in record.mechanisms if m.kind is MechanismKind.ALL), None)
    if closing is None and record.redirect is not None:
        return _info("spf.redirect", domain, f"the SPF record at {domain} ends in {record.redirect.to_text()}: "
                     "the target's record decides for other hosts (RFC 7208 §6.1)")
    if closing is None:
        return _warning("spf.no-all", domain, f"the SPF record at {domain} has no all mechanism and no redirect: "
                        "other hosts get the default result neutral (RFC 7208 §4.7)")
    if closing.qualifier is Qualifier.PASS:
        return _error("spf.pass-all", domain, f"the SPF record at {domain} ends in +all: it authorises every "
                      "host on the Internet (RFC 7208 §5.1)")
    if closing.qualifier is Qualifier.NEUTRAL:
        return _warning("spf.neutral-all", domain, f"the SPF record at {domain} ends in ?all: other hosts get "
                        "neutral, no assertion at all (RFC 7208 §2.6.2, §5.1)")
    result = "fail" if closing.qualifier is Qualifier.FAIL else "softfail"
    return _ok("spf.all", domain, f"the SPF record at {domain} ends in {closing.to_text()}: other hosts get "
               f"{result} (RFC 7208 §5.1)")


# =========================================================================== DMARC (RFC 7489, RFC 9989)

_DMARC_VERSION = _tag_version("DMARC1")


@dataclass(frozen=True)
class ReportDestination:
    """A rua/ruf URI; outside the policy domain's organisational domain it needs an authorisation record."""

    tag: str  # "rua" or "ruf"
    uri: str
    host: str | None
    authorisation: str | None = None  # POLICY-DOMAIN._report._dmarc.HOST (RFC 7489 §7.1), None when not needed
    authorised: bool | None = None  # None: not needed, or the lookup failed

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, "uri": self.uri, "host": self.host, "external": self.authorisation is not None,
                "authorisation": self.authorisation, "authorised": self.authorised}


@dataclass(frozen=True)
class DmarcCheck:
    """The DMARC record that applies to the domain: its own, or the organisational domain's (RFC 7489 §6.6.3)."""

    name: str  # _dmarc.DOMAIN
    found_at: str | None = None  # where the record that applies was found
    fallback: bool = False  # found at the organisational domain
    record: DmarcRecord | None = None
    text: str | None = None
    destinations: tuple[ReportDestination, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def policy_applied(self) -> Policy | None:
        """The policy receivers apply to the domain's mail: sp= (else p=) when the org record applies."""
        if self.record is None:
            return None
        return self.record.subdomain_policy() if self.fallback else self.record.effective_policy()

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        applied = self.policy_applied
        return {"name": self.name, "found_at": self.found_at, "fallback": self.fallback, "record": self.text,
                "p": r.p.value if r and r.p else None, "sp": r.sp.value if r and r.sp else None,
                "np": r.np.value if r and r.np else None, "t": r.t if r else None, "pct": r.pct if r else None,
                "policy_applied": applied.value if applied else None,
                "rua": [u.to_text() for u in r.rua] if r else [], "ruf": [u.to_text() for u in r.ruf] if r else [],
                "destinations": [d.to_dict() for d in self.destinations]}


async def _dmarc_texts(client: DnsClient, name: str) -> tuple[DnsAnswer, list[str]]:
    """RFC 7489 §6.6.3 steps 1-2 (3-4): the TXT records at ``name`` that begin with v=DMARC1."""
    answer = await client.query(name, "TXT")
    return answer, [t for t in answer.records if _DMARC_VERSION.match(t)]


async def check_dmarc(domain: str, client: DnsClient, org_domain: OrgDomain = organizational_domain) -> DmarcCheck:
    """Policy discovery as a receiver does it (RFC 7489 §6.6.3), then the record's stage and destinations."""
    name = f"_dmarc.{domain}"
    found_at, fallback = name, False
    answer, texts = await _dmarc_texts(client, name)
    org = org_domain(domain) or domain
    if not texts and not _failed(answer) and org != domain:
        found_at, fallback = f"_dmarc.{org}", True  # RFC 7489 §6.6.3 step 3
        answer, texts = await _dmarc_texts(client, found_at)
    if _failed(answer):
        return DmarcCheck(name, findings=(_dns_error("dmarc", found_at, "TXT", answer, "RFC 7489 §6.6.3"),))
    if not texts:
        where = name + (f" nor at _dmarc.{org}" if org != domain else "")
        return DmarcCheck(name, findings=(_error("dmarc.missing", name, f"no v=DMARC1 TXT record at {where}: "
                                                 "receivers apply no DMARC policy (RFC 7489 §6.6.3)"),))
    if len(texts) > 1:
        return DmarcCheck(name, found_at, fallback, findings=(_error(
            "dmarc.several-records", found_at, f"{len(texts)} v=DMARC1 TXT records at {found_at}: receivers "
            "apply no DMARC policy (RFC 7489 §6.6.3 step 5)"),))
    try:
        record = DmarcRecord.from_text(texts[0])
    except RecordError as exc:
        return DmarcCheck(name, found_at, fallback, text=texts[0], findings=(_error(
            "dmarc.syntax", found_at, f"the DMARC record at {found_at} does not parse: {exc}"),))
    findings = [_info("dmarc.org-fallback", name, f"no DMARC record at {name}: receivers use the organisational "
                      f"domain's record at {found_at} and its subdomain policy (RFC 7489 §6.6.3 step 3)")] \
        if fallback else []
    findings += _stage_findings(found_at, record, fallback)
    policy_domain = found_at.removeprefix("_dmarc.")
    destinations, more = await _destinations(policy_domain, record, client, org_domain)
    return DmarcCheck(name, found_at, fallback, record, texts[0], destinations, tuple(findings + more))


def _stage_findings(found_at: str, record: DmarcRecord, fallback: bool) -> list[Finding]:
    """Where the record stands on the way to enforcement (RFC 7489 §6.3, RFC 9989 §4.7)."""
    policy = record.subdomain_policy() if fallback else record.effective_policy()
    tag = "sp" if fallback and record.sp is not None else "p"
    out = []
    if policy is None:
        out.append(_error("dmarc.no-policy", found_at, f"the DMARC record at {found_at} has no p= and no rua=: "
                          "receivers apply no DMARC processing (RFC 7489 §6.6.3 step 6, RFC 9989 §4.10.1)"))
    elif policy is Policy.NONE:
        out.append(_info("dmarc.monitoring", found_at, f"{tag}=none at {found_at}: monitoring only, receivers "
                         "take no action on failing mail (RFC 7489 §6.3)"))
    else:
        out.append(_ok("dmarc.policy", found_at, f"{tag}={policy.value} at {found_at}: receivers "
                       f"{'quarantine' if policy is Policy.QUARANTINE else 'reject'} failing mail (RFC 7489 §6.3)"))
    if policy in (Policy.QUARANTINE, Policy.REJECT) and record.pct is not None and record.pct < 100:
        out.append(_info("dmarc.partial", found_at, f"pct={record.pct} at {found_at}: the policy applies to "
                         f"{record.pct}% of failing mail (RFC 7489 §6.3; RFC 9989 drops pct=)"))
    if record.t:
        out.append(_info("dmarc.testing", found_at, f"t=y at {found_at}: receivers are asked to apply one level "
                         "less than the policy (RFC 9989 §4.7)"))
    if not record.rua:
        out.append(_warning("dmarc.no-rua", found_at, f"no rua= at {found_at}: no aggregate reports are sent "
                            "(RFC 7489 §6.3, §7.2), so there is nothing to analyse"))
    return out


async def _destinations(policy_domain: str, record: DmarcRecord, client: DnsClient,
                        org_domain: OrgDomain) -> tuple[tuple[ReportDestination, ...], list[Finding]]:
    """RFC 7489 §7.1: a destination outside the organisational domain must publish its consent."""
    out: list[ReportDestination] = []
    findings: list[Finding] = []
    for tag, uri in [*(("rua", u) for u in record.rua), *(("ruf", u) for u in record.ruf)]:
        try:
            needed = external_destination_records(policy_domain, [uri], org_domain)
        except RecordError as exc:
            out.append(ReportDestination(tag, uri.to_text(), uri.host, None, False))
            findings.append(_error("dmarc.destination-invalid", f"_dmarc.{policy_domain}", str(exc)))
            continue
        if not needed:
            out.append(ReportDestination(tag, uri.to_text(), uri.host))
            continue
        name = needed[0][0]
        authorised, finding = await _authorisation(tag, uri, name, client)
        out.append(ReportDestination(tag, uri.to_text(), uri.host, name, authorised))
        findings.append(finding)
    return tuple(out), findings


async def _authorisation(tag: str, uri: ReportUri, name: str, client: DnsClient) -> tuple[bool | None, Finding]:
    answer = await client.query(name, "TXT")
    if _failed(answer):
        return None, _dns_error("dmarc", name, "TXT", answer, "RFC 7489 §7.1")
    if any(_DMARC_VERSION.match(t) for t in answer.records):
        return True, _ok("dmarc.destination-authorised", name, f"{tag} {uri.to_text()}: {name} holds v=DMARC1, "
                         "so receivers send reports there (RFC 7489 §7.1)")
    return False, _warning("dmarc.destination-unauthorised", name, f"{tag} {uri.to_text()} is outside the "
                           f"organisational domain and {name} has no v=DMARC1 TXT record: receivers MUST NOT send "
                           "reports there (RFC 7489 §7.1)")


# =========================================================================== DKIM (RFC 6376, RFC 8301)


class SelectorSource(enum.Enum):
    GIVEN = "option"  # --selector
    STORE = "store"  # a key dmarcpilot holds for the domain
    PUBLICATION = "publication"  # a key record in the compiled hosted zone


class DkimState(enum.Enum):
    FOUND = "found"
    MISSING = "missing"
    REVOKED = "revoked"  # empty p= (RFC 6376 §3.6.1)
    INVALID = "invalid"
    UNKNOWN = "unknown"  # the lookup failed


@dataclass(frozen=True)
class DkimCheck:
    selector: str
    name: str  # SELECTOR._domainkey.DOMAIN
    state: DkimState
    sources: tuple[SelectorSource, ...] = ()
    key_type: KeyType | None = None
    bits: int | None = None
    record: str | None = None  # the live text
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"selector": self.selector, "name": self.name, "state": self.state.value,
                "sources": [s.value for s in self.sources], "key_type": self.key_type.value if self.key_type else None,
                "bits": self.bits, "record": self.record}


async def check_dkim(domain: str, selector: str, client: DnsClient, sources: Sequence[SelectorSource] = (),
                     expected: str | None = None) -> DkimCheck:
    """The key record at ``SELECTOR._domainkey.DOMAIN`` (RFC 6376 §3.6.2.1); ``expected``: what dmarcpilot serves."""
    name = f"{selector}._domainkey.{domain}"
    try:
        check_selector(selector)
    except RecordError as exc:
        return DkimCheck(selector, name, DkimState.INVALID, tuple(sources),
                         findings=(_error("dkim.invalid", name, str(exc)),))
    answer = await client.query(name, "TXT")
    if _failed(answer):
        return DkimCheck(selector, name, DkimState.UNKNOWN, tuple(sources), findings=(
            _dns_error("dkim", name, "TXT", answer, "RFC 6376 §6.1.2: TEMPFAIL"),))
    if not answer.records:
        return DkimCheck(selector, name, DkimState.MISSING, tuple(sources), findings=(_error(
            "dkim.missing", name, f"no TXT record at {name}: signatures with s={selector} fail "
            "(RFC 6376 §6.1.2: PERMFAIL, no key for signature)"),))
    text = answer.records[0]
    extra = [_warning("dkim.several-records", name, f"{len(answer.records)} TXT records at {name}: verifiers "
                      "may pick any one (RFC 6376 §3.6.2.2)")] if len(answer.records) > 1 else []
    try:
        key = DkimKeyRecord.from_text(text)
    except RecordError as exc:
        return DkimCheck(selector, name, DkimState.INVALID, tuple(sources), record=text, findings=(*extra, _error(
            "dkim.invalid", name, f"the key record at {name} does not parse: {exc} (RFC 6376 §6.1.2: PERMFAIL)")))
    findings = [*extra, *_key_findings(name, key)]
    if expected is not None and key.to_text() != DkimKeyRecord.from_text(expected).to_text():
        findings.append(_warning("dkim.differs", name, f"the key at {name} is not the one dmarcpilot serves for "
                                 f"s={selector}: the CNAME is not in place, or the hosted zone not reloaded "
                                 "(RFC 6376 §3.6.2.1)"))
    state = DkimState.REVOKED if key.revoked else DkimState.FOUND
    return DkimCheck(selector, name, state, tuple(sources), key.key_type, key.key_bits, text, tuple(findings))


def _key_findings(name: str, key: DkimKeyRecord) -> list[Finding]:
    if key.revoked:
        return [_info("dkim.revoked", name, f"empty p= at {name}: the key is revoked, signatures with it fail "
                      "(RFC 6376 §3.6.1)")]
    bits, kind = key.key_bits or 0, key.key_type.value
    out = []
    if key.key_type is KeyType.RSA and bits < MIN_RSA_BITS:
        out.append(_error("dkim.weak-key", name, f"rsa key of {bits} bits at {name}: verifiers MUST NOT accept "
                          f"keys under {MIN_RSA_BITS} bits (RFC 8301 §3.2)"))
    elif key.key_type is KeyType.RSA and bits < GOOD_RSA_BITS:
        out.append(_warning("dkim.short-key", name, f"rsa key of {bits} bits at {name}: signers SHOULD use at "
                            f"least {GOOD_RSA_BITS} bits (RFC 8301 §3.2)"))
    else:
        out.append(_ok("dkim.key", name, f"{kind} key of {bits} bits at {name} (RFC 6376 §3.6.1)"))
    if key.testing:
        out.append(_info("dkim.testing", name, f"t=y at {name}: the domain is testing DKIM, verifiers may "
                         "treat failures as if unsigned (RFC 6376 §3.6.1)"))
    return out


def selectors_to_check(domain: str, publication: Publication | None, given: Iterable[str] = (),
                       stored: Iterable[str] = ()) -> dict[str, tuple[SelectorSource, ...]]:
    """Every selector to look up, with where it comes from (lower case: DNS names compare so, RFC 4343)."""
    out: dict[str, list[SelectorSource]] = {}
    compiled = [s for s, _ in _compiled_keys(publication)]
    for source, selectors in ((SelectorSource.GIVEN, given), (SelectorSource.STORE, stored),
                              (SelectorSource.PUBLICATION, compiled)):
        for selector in selectors:
            sources = out.setdefault(normalize_name(selector), [])
            if source not in sources:
                sources.append(source)
    return {selector: tuple(sources) for selector, sources in out.items()}


def _compiled_keys(publication: Publication | None) -> list[tuple[str, str]]:
    """``(selector, record text)`` of the key records in the compiled hosted zone."""
    if publication is None:
        return []
    suffix = f"._domainkey.{publication.settings.hosted_zone}"
    return [(r.name.removesuffix(suffix), r.value) for r in publication.hosted
            if r.rdtype == "TXT" and r.name.endswith(suffix)]


# =========================================================================== MTA-STS and TLS-RPT


class Presence(enum.Enum):
    PRESENT = "present"
    ABSENT = "absent"
    INVALID = "invalid"
    UNKNOWN = "unknown"  # the lookup failed


@dataclass(frozen=True)
class TxtCheck:
    """A versioned tag-list TXT record (MTA-STS, TLS-RPT)."""

    name: str
    state: Presence
    record: str | None = None  # the live text
    findings: tuple[Finding, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "record": self.record}


@dataclass(frozen=True)
class _TxtKind:
    area: str
    what: str
    version: str
    rule: str
    absent: str  # what the record's absence means
    parse: Callable[[str], object]


_MTA_STS = _TxtKind("mta-sts", "MTA-STS", "STSv1", "RFC 8461 §3.1",
                    "senders do not require TLS for mail to the domain", MtaStsRecord.from_text)
_TLS_RPT = _TxtKind("tlsrpt", "TLS-RPT", "TLSRPTv1", "RFC 8460 §3",
                    "no SMTP TLS reports are requested", TlsRptRecord.from_text)


async def _check_txt(name: str, kind: _TxtKind, client: DnsClient) -> TxtCheck:
    """Records not beginning with the version are discarded; exactly one must remain and parse."""
    answer = await client.query(name, "TXT")
    if _failed(answer):
        return TxtCheck(name, Presence.UNKNOWN, findings=(_dns_error(kind.area, name, "TXT", answer, kind.rule),))
    texts = [t for t in answer.records if _tag_version(kind.version).match(t)]
    if not texts:
        return TxtCheck(name, Presence.ABSENT, findings=(_info(
            f"{kind.area}.absent", name, f"no v={kind.version} TXT record at {name}: {kind.absent} ({kind.rule})"),))
    if len(texts) > 1:
        return TxtCheck(name, Presence.INVALID, findings=(_error(
            f"{kind.area}.several-records", name, f"{len(texts)} v={kind.version} TXT records at {name}: the domain "
            f"counts as having no {kind.what} record ({kind.rule})"),))
    try:
        kind.parse(texts[0])
    except RecordError as exc:
        return TxtCheck(name, Presence.INVALID, texts[0], (_error(
            f"{kind.area}.invalid", name, f"the {kind.what} record at {name} does not parse: {exc}"),))
    return TxtCheck(name, Presence.PRESENT, texts[0], (_ok(
        f"{kind.area}.present", name, f"{kind.what} record at {name}: {texts[0]} ({kind.rule})"),))


async def check_mta_sts(domain: str, client: DnsClient) -> TxtCheck:
    """``_mta-sts.DOMAIN`` (RFC 8461 §3.1); the HTTPS policy file is not fetched, and the result says so."""
    result = await _check_txt(f"_mta-sts.{domain}", _MTA_STS, client)
    if result.state is not Presence.PRESENT:
        return result
    note = _info("mta-sts.policy-not-checked", result.name, f"the policy file {policy_url(domain)} was not "
                 "fetched: only the TXT record was checked (RFC 8461 §3.3)")
    return TxtCheck(result.name, result.state, result.record, (*result.findings, note))


async def check_tls_rpt(domain: str, client: DnsClient) -> TxtCheck:
    """``_smtp._tls.DOMAIN`` (RFC 8460 §3)."""
    return await _check_txt(f"_smtp._tls.{domain}", _TLS_RPT, client)


# =========================================================================== drift


class DriftState(enum.Enum):
    MATCH = "match"
    MISSING = "missing"
    DIFFERENT = "different"
    UNKNOWN = "unknown"  # the lookup failed


@dataclass(frozen=True)
class DriftItem:
    """One record the organisation should hold in its own DNS, against the live DNS."""

    name: str
    rdtype: str
    expected: str
    live: tuple[str, ...]
    state: DriftState
    finding: Finding
    missing_terms: tuple[str, ...] = ()  # SPF: compiled terms the live record lacks
    extra_terms: tuple[str, ...] = ()  # SPF: live terms the compiled record does not have

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.rdtype, "expected": self.expected, "live": list(self.live),
                "state": self.state.value, "missing_terms": list(self.missing_terms),
                "extra_terms": list(self.extra_terms)}


async def check_drift(publication: Publication, client: DnsClient) -> tuple[DriftItem, ...]:
    """Every ``own_dns`` record: is it live? (CNAMEs are asked as CNAME, not followed.)"""
    items = []
    for record in publication.own_dns:
        answer = await client.query(record.name, record.rdtype)
        if _failed(answer):
            finding = _dns_error("drift", record.name, record.rdtype, answer, "RFC 1034 §4.3.2")
            items.append(DriftItem(record.name, record.rdtype, record.value, (), DriftState.UNKNOWN, finding))
        elif record.rdtype == "TXT" and _is_spf(record.value):
            items.append(_spf_drift(record, [t for t in answer.records if _is_spf(t)]))
        else:
            items.append(_value_drift(record, answer.records))
    return tuple(items)


def _comparable(record: ZoneRecord, value: str) -> str:
    """CNAME and NS targets compare case-insensitively without the root dot (RFC 4343); TXT exactly."""
    return value if record.rdtype == "TXT" else normalize_name(value)


_DRIFT_RULES = {"CNAME": "RFC 1034 §3.6.2: the name is an alias of the one in the hosted zone",
                "NS": "RFC 1034 §4.2.1: the parent delegates the hosted zone to its name servers"}


def _value_drift(record: ZoneRecord, live: Sequence[str]) -> DriftItem:
    shown = f"{record.name} {record.rdtype} {record.value}"
    rule = _DRIFT_RULES.get(record.rdtype, "RFC 1035 §3.3")
    values = tuple(_comparable(record, v) for v in live)
    if _comparable(record, record.value) in values:
        return DriftItem(record.name, record.rdtype, record.value, values, DriftState.MATCH,
                         _ok("drift.match", record.name, f"{shown} is published ({rule})"))
    if not values:
        return DriftItem(record.name, record.rdtype, record.value, values, DriftState.MISSING, _warning(
            "drift.missing", record.name, f"{shown} is not published in the domain's DNS, so dmarcpilot's "
            f"records for it do not apply ({rule})"))
    return DriftItem(record.name, record.rdtype, record.value, values, DriftState.DIFFERENT, _warning(
        "drift.different", record.name, f"{record.name} {record.rdtype} is {', '.join(values)}, not "
        f"{record.value} as compiled ({rule})"))


def _spf_drift(record: ZoneRecord, live: Sequence[str]) -> DriftItem:
    """SPF records compare by their canonical text (``SpfRecord.to_text``), then term by term."""
    name, expected = record.name, SpfRecord.from_text(record.value)
    if not live:
        return DriftItem(name, "TXT", record.value, (), DriftState.MISSING, _warning(
            "drift.missing", name, f"the compiled SPF record is not published at {name}: {record.value} "
            "(RFC 7208 §3)"))
    if len(live) > 1:
        return DriftItem(name, "TXT", record.value, tuple(live), DriftState.DIFFERENT, _warning(
            "drift.spf-differs", name, f"{len(live)} SPF records at {name} instead of the compiled one "
            "(RFC 7208 §4.5)"))
    try:
        actual = SpfRecord.from_text(live[0])
    except SpfSyntaxError:
        return DriftItem(name, "TXT", record.value, tuple(live), DriftState.DIFFERENT, _warning(
            "drift.spf-differs", name, f"the SPF record at {name} does not parse; the compiled one does "
            "(RFC 7208 §4.6)"))
    if actual.to_text() == expected.to_text():
        return DriftItem(name, "TXT", record.value, tuple(live), DriftState.MATCH,
                         _ok("drift.match", name, f"the SPF record at {name} is the compiled one, term for "
                             "term (RFC 7208 §4.6.1)"))
    want, have = [t.to_text() for t in expected.terms], [t.to_text() for t in actual.terms]
    missing, extra = tuple(t for t in want if t not in have), tuple(t for t in have if t not in want)
    detail = "; ".join(part for part in (f"missing {' '.join(missing)}" if missing else "",
                                         f"extra {' '.join(extra)}" if extra else "") if part)
    return DriftItem(name, "TXT", record.value, tuple(live), DriftState.DIFFERENT, _warning(
        "drift.spf-differs", name, f"the SPF record at {name} differs from the compiled one: "
        f"{detail or 'the same terms in another order, and order matters'} (RFC 7208 §4.6.2)"), missing, extra)


# =========================================================================== the report


@dataclass(frozen=True)
class PostureReport:
    domain: str
    org_domain: str | None
    spf: SpfCheck
    dmarc: DmarcCheck
    dkim: tuple[DkimCheck, ...]
    mta_sts: TxtCheck
    tls_rpt: TxtCheck
    drift: tuple[DriftItem, ...]
    notes: tuple[Finding, ...] = ()  # findings about the check itself

    @property
    def findings(self) -> tuple[Finding, ...]:
        return (*self.spf.findings, *self.dmarc.findings, *(f for d in self.dkim for f in d.findings), *self.notes,
                *self.mta_sts.findings, *self.tls_rpt.findings, *(d.finding for d in self.drift))

    @property
    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=Severity.OK)

    @property
    def has_errors(self) -> bool:
        return self.worst is Severity.ERROR

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "org_domain": self.org_domain, "worst": self.worst.value,
                "spf": self.spf.to_dict(), "dmarc": self.dmarc.to_dict(), "dkim": [d.to_dict() for d in self.dkim],
                "mta_sts": {**self.mta_sts.to_dict(), "policy_url": policy_url(self.domain), "policy_checked": False},
                "tls_rpt": self.tls_rpt.to_dict(), "drift": [d.to_dict() for d in self.drift],
                "findings": [f.to_dict() for f in self.findings]}


async def check_posture(domain: str, client: DnsClient, publication: Publication | None = None,
                        selectors: Iterable[str] = (), stored_selectors: Iterable[str] = (),
                        org_domain: OrgDomain = organizational_domain) -> PostureReport:
    """Check everything ``domain`` publishes; with ``publication``, also what should be live and is not.

    Each question is asked once (answers are shared between the checks).
    """
    domain = normalize_name(domain)
    cached = RecordingClient(client)
    wanted = selectors_to_check(domain, publication, selectors, stored_selectors)
    expected = dict(_compiled_keys(publication))
    (spf, dmarc, mta_sts, tls_rpt), dkim = await asyncio.gather(
        asyncio.gather(check_spf(domain, cached), check_dmarc(domain, cached, org_domain),
                       check_mta_sts(domain, cached), check_tls_rpt(domain, cached)),
        asyncio.gather(*(check_dkim(domain, s, cached, sources, expected.get(s)) for s, sources in wanted.items())))
    notes = () if wanted else (_info("dkim.no-selectors", f"_domainkey.{domain}", "no DKIM selector to check: "
                                     "selectors cannot be listed through the DNS (RFC 6376 §3.6.2.1); "
                                     "name them with --selector"),)
    drift = await check_drift(publication, cached) if publication is not None else ()
    return PostureReport(domain, org_domain(domain), spf, dmarc, tuple(dkim), mta_sts, tls_rpt, drift, notes)
