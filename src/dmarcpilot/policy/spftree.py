"""What an SPF include authorises: resolve a vendor's tree once, keep the answers, say what flattens.

The compiler needs, for every approved vendor include, the set of addresses
for which ``include:NAME`` matches (its record evaluates to ``pass``,
RFC 7208 §5.2), and whether that set can be written as plain ``ip4``/``ip6``
terms at all. It can when the tree only holds pass-qualified ``ip4``/``ip6``/
``a``/``mx``/``include`` terms, a closing non-pass ``all`` and ``redirect``;
``ptr``, ``exists`` and macros depend on the message being checked, so such
an include is kept as it is (DESIGN.md; issue 4).

Every DNS answer seen while walking is captured (:class:`Capture`): the
compiler's equivalence proof evaluates the original includes against exactly
these answers, and a store keeps them as the last snapshot for compiling
without network.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dmarcpilot.dnsclient import DnsAnswer, DnsClient, DnsStatus, StaticDnsClient, normalize_name
from dmarcpilot.records.spf import Mechanism, MechanismKind, Qualifier, SpfRecord, SpfSyntaxError, is_spf_record

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_DEPTH = 10  # RFC 7208 §4.6.4 allows 10 DNS terms in all: a deeper tree cannot be a working include
MAX_MX = 10  # RFC 7208 §4.6.4: more MX names is a permerror


# --------------------------------------------------------------------------- captured answers


@dataclass(frozen=True)
class Capture:
    """DNS answers seen while resolving, ``{(name, rdtype): answer}``; JSON for the store."""

    answers: Mapping[tuple[str, str], DnsAnswer] = field(default_factory=dict)

    def client(self) -> StaticDnsClient:
        """A DNS client answering exactly what was captured (failures included); NXDOMAIN for the rest."""
        ok = {key: list(a.records) for key, a in self.answers.items() if a.status is DnsStatus.OK}
        static = StaticDnsClient(
            ok,
            timeouts=[k for k, a in self.answers.items() if a.status is DnsStatus.TIMEOUT],
            servfail=[k for k, a in self.answers.items() if a.status is DnsStatus.SERVFAIL],
        )
        for (name, rdtype), answer in self.answers.items():
            if answer.status is DnsStatus.NODATA:
                static.add(name, rdtype)  # the name exists, without records of this type
        return static

    def merged(self, other: Capture) -> Capture:
        return Capture({**self.answers, **other.answers})

    def to_json(self) -> str:
        rows = [[name, rdtype, a.status.value, list(a.records)] for (name, rdtype), a in sorted(self.answers.items())]
        return json.dumps(rows, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Capture:
        return cls({(name, rdtype): DnsAnswer(DnsStatus(status), tuple(records))
                    for name, rdtype, status, records in json.loads(text)})


class RecordingClient:
    """A :class:`DnsClient` that asks ``base`` once per question and remembers every answer."""

    def __init__(self, base: DnsClient) -> None:
        self.base = base
        self.answers: dict[tuple[str, str], DnsAnswer] = {}

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        key = (normalize_name(name), rdtype.upper())
        answer = self.answers.get(key)
        if answer is None:
            answer = self.answers[key] = await self.base.query(*key)
        return answer

    def capture(self) -> Capture:
        return Capture(dict(self.answers))


# --------------------------------------------------------------------------- expansion


@dataclass(frozen=True, slots=True)
class Expansion:
    """What ``include:name`` authorises.

    ``networks``: the addresses for which it matches, collapsed (meaningful
    only when ``problem`` is None). ``lookups``: DNS-querying terms its
    evaluation costs, the include itself included (RFC 7208 §4.6.4).
    ``problem``: why it must stay an include (``ptr``, ``exists``, macros,
    a non-pass term before others, an error) or None when it flattens.
    """

    name: str
    networks: tuple[IPNetwork, ...] = ()
    lookups: int = 1
    problem: str | None = None

    @property
    def flattenable(self) -> bool:
        return self.problem is None


class _Stop(Exception):  # control flow inside the walk: the tree cannot be flattened
    pass


@dataclass
class _Walk:
    """The walk goes on past a term that prevents flattening, to count every lookup the include costs."""

    client: DnsClient
    lookups: int = 0
    voids: int = 0
    networks: list[IPNetwork] = field(default_factory=list)
    problem: str | None = None

    def flag(self, reason: str) -> None:
        self.problem = self.problem or reason

    async def ask(self, name: str, rdtype: str) -> DnsAnswer:
        answer = await self.client.query(name, rdtype)
        if answer.status in (DnsStatus.TIMEOUT, DnsStatus.SERVFAIL):
            raise _Stop(f"{rdtype} {name}: {answer.status.value}")
        return answer


async def expand_include(name: str, client: DnsClient) -> Expansion:
    """Resolve ``include:name`` through ``client`` (wrap it in a :class:`RecordingClient` to keep the answers)."""
    walk = _Walk(client)
    name = normalize_name(name)
    try:
        await _record(walk, name, depth=0)
    except _Stop as stop:
        walk.flag(str(stop))
    if walk.problem is not None:
        return Expansion(name, (), 1 + walk.lookups, walk.problem)
    return Expansion(name, collapse(walk.networks), 1 + walk.lookups)


async def expand_terms(domain: str, terms: Iterable[Mechanism], client: DnsClient) -> Expansion:
    """The same for terms written in the domain's own record (``mx``, ``a:relay...``, ``ip4:...``)."""
    walk = _Walk(client)
    try:
        for mechanism in terms:
            await _mechanism(walk, mechanism, domain, depth=0)
    except _Stop as stop:
        walk.flag(str(stop))
    if walk.problem is not None:
        return Expansion(domain, (), walk.lookups, walk.problem)
    return Expansion(domain, collapse(walk.networks), walk.lookups)


async def _record(walk: _Walk, domain: str, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Stop(f"{domain}: includes nested deeper than {MAX_DEPTH}")
    answer = await walk.ask(domain, "TXT")
    texts = [t for t in answer.records if is_spf_record(t)]
    if len(texts) != 1:  # RFC 7208 §4.5: none or several records; an include of it is a permerror
        raise _Stop(f"{domain}: {'no' if not texts else len(texts)} SPF record{'s' if texts else ''}")
    try:
        record = SpfRecord.from_text(texts[0])
    except SpfSyntaxError as exc:
        raise _Stop(f"{domain}: {exc}") from None
    for mechanism in record.mechanisms:
        if mechanism.kind is MechanismKind.ALL:
            if mechanism.qualifier is Qualifier.PASS:
                walk.flag(f"{domain}: +all authorises every address")
            return  # RFC 7208 §4.6.2 / §6.1: nothing after all, and no redirect, is ever evaluated
        await _mechanism(walk, mechanism, domain, depth)
    if record.redirect is not None:  # RFC 7208 §6.1: the target's result is the record's
        walk.lookups += 1
        if record.redirect.uses_macros:
            walk.flag(f"{domain}: {record.redirect.to_text()} depends on the message checked")
        else:
            await _record(walk, normalize_name(record.redirect.value), depth + 1)


async def _mechanism(walk: _Walk, mechanism: Mechanism, domain: str, depth: int) -> None:
    kind = mechanism.kind
    if mechanism.qualifier is not Qualifier.PASS:
        # A non-pass term carves addresses out of later ones: order matters, keep the include.
        walk.flag(f"{domain}: {mechanism.to_text()} is not a pass term")
    if mechanism.network is not None:
        walk.networks.append(mechanism.network)
        return
    walk.lookups += 1
    if kind in (MechanismKind.PTR, MechanismKind.EXISTS) or mechanism.uses_macros:
        walk.flag(f"{domain}: {mechanism.to_text()} depends on the message checked")
        return  # counted; its target depends on the message, so nothing below it is counted
    target = normalize_name(mechanism.domain_spec) if mechanism.domain_spec else domain
    if kind is MechanismKind.INCLUDE:
        await _record(walk, target, depth + 1)
    elif kind is MechanismKind.A:
        await _addresses(walk, target, mechanism)
    elif kind is MechanismKind.MX:
        await _mx(walk, target, mechanism)


async def _addresses(walk: _Walk, host: str, mechanism: Mechanism, count_void: bool = True) -> None:
    found = False
    for rdtype, prefix in (("A", 32 if mechanism.cidr4 is None else mechanism.cidr4),
                         ("AAAA", 128 if mechanism.cidr6 is None else mechanism.cidr6)):
        answer = await walk.ask(host, rdtype)
        for address in answer.records:
            walk.networks.append(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
            found = True
    if not found and count_void:
        _void(walk, host)


async def _mx(walk: _Walk, domain: str, mechanism: Mechanism) -> None:
    answer = await walk.ask(domain, "MX")
    hosts = [normalize_name(r.split()[-1]) for r in answer.records]
    if not hosts:
        _void(walk, domain)
    if len(hosts) > MAX_MX:
        raise _Stop(f"{domain}: more than {MAX_MX} MX names (RFC 7208 §4.6.4)")
    for host in hosts:
        await _addresses(walk, host, mechanism, count_void=False)


def _void(walk: _Walk, name: str) -> None:
    walk.voids += 1
    if walk.voids > 2:  # RFC 7208 §4.6.4: a third void lookup is a permerror
        raise _Stop(f"{name}: more than two void lookups")


def collapse(networks: Iterable[IPNetwork]) -> tuple[IPNetwork, ...]:
    """Merge overlapping and adjacent networks, IPv4 first."""
    nets = list(networks)
    v4 = ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in nets if isinstance(n, ipaddress.IPv6Network))
    return (*v4, *v6)
