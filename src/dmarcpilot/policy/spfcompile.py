"""The SPF compiler: exactly the approved senders, within RFC 7208's limit of 10 DNS lookups.

Two forms (issue 4):

* **conventional**: ``v=spf1 [own terms] [ip4/ip6] [include:...] ~all``. Includes
  stay includes while the whole check fits in 10 DNS-querying terms
  (RFC 7208 §4.6.4); when it does not, the costliest flattenable includes
  are written out as addresses, and addresses that make the record too long
  for one UDP answer move into chained records under the hosted zone.
* **exists**: ``v=spf1 exists:%{ir}.%{v}._spf.ZONE [includes kept] ~all``.
  Every authorised address (approved ranges, flattened vendors, own
  servers) is a name in the hosted zone: the reversed address (RFC 7208 §7.3
  ``%{ir}``, ``%{v}`` is ``in-addr`` or ``ip6``) below ``_spf.ZONE``, with a
  wildcard per prefix (RFC 4592), prefixes off an octet (IPv4) or nibble
  (IPv6) boundary split into the aligned prefixes that cover exactly them.
  One lookup, however many services are approved; the record itself
  never changes when approvals do, only the zone.

Terms that cannot be flattened (``ptr``, ``exists``, macros, or a vendor
that cannot be resolved now) are kept as the vendor's include, inside the
budget. The compiled record's equivalence with the plain list of includes
is proven by :mod:`dmarcpilot.policy.spfproof`, not assumed.
"""

from __future__ import annotations

import enum
import ipaddress
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dmarcpilot.dnsclient import DnsClient, normalize_name
from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.policy.spftree import (
    Capture,
    Expansion,
    IPNetwork,
    RecordingClient,
    collapse,
    expand_include,
    expand_terms,
)
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.records.spf import Mechanism, MechanismKind, Qualifier, SpfRecord, SpfSyntaxError, parse_term

LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
MAX_RECORD_LENGTH = 450  # RFC 7208 §3.4: keep the answer (with headers) within 512 octets of UDP
EXISTS_LABEL = "_spf"
EXISTS_TARGET = "127.0.0.2"  # the customary "listed" answer of DNS-based lists (RFC 5782 §2.1)
CHAIN_LABEL = "_c{}"


class SpfCompileError(DmarcpilotError):
    """The approved senders cannot be compiled as asked."""


class SpfMode(enum.Enum):
    AUTO = "auto"  # conventional when it fits in 10 lookups without chained records, else exists
    CONVENTIONAL = "conventional"
    EXISTS = "exists"


@dataclass(frozen=True)
class SpfPolicy:
    """What to authorise for ``domain``: the inputs of the compiler.

    ``own_terms`` are the organisation's own servers as SPF pass terms
    (``mx``, ``a:relay.example.edu``, ``ip4:...``); ``hosted_zone`` is the
    zone dmarcpilot serves for the domain (delegated to it).
    """

    domain: str
    hosted_zone: str
    includes: tuple[str, ...] = ()
    networks: tuple[IPNetwork, ...] = ()
    own_terms: tuple[Mechanism, ...] = ()
    all_qualifier: Qualifier = Qualifier.SOFTFAIL
    mode: SpfMode = SpfMode.AUTO
    max_length: int = MAX_RECORD_LENGTH

    def __post_init__(self) -> None:
        object.__setattr__(self, "domain", normalize_name(self.domain))
        object.__setattr__(self, "hosted_zone", normalize_name(self.hosted_zone))
        object.__setattr__(self, "includes", tuple(dict.fromkeys(normalize_name(i) for i in self.includes)))
        object.__setattr__(self, "networks", collapse(self.networks))
        for term in self.own_terms:
            if term.qualifier is not Qualifier.PASS or term.kind is MechanismKind.ALL:
                raise SpfCompileError(f"own term {term.to_text()!r}: only pass terms other than all can be "
                                      "authorised (RFC 7208 §4.6.2)")

    @staticmethod
    def parse_own_terms(texts: Iterable[str]) -> tuple[Mechanism, ...]:
        terms = []
        for text in texts:
            try:
                term = parse_term(text.strip())
            except SpfSyntaxError as exc:
                raise SpfCompileError(f"own term {text!r}: {exc}") from None
            if not isinstance(term, Mechanism):
                raise SpfCompileError(f"own term {text!r}: a mechanism is needed, not a modifier")
            terms.append(term)
        return tuple(terms)

    @property
    def exists_base(self) -> str:
        return f"{EXISTS_LABEL}.{self.hosted_zone}"

    def reference(self) -> SpfRecord:
        """The plain meaning: own terms, approved ranges and every include, unflattened."""
        return SpfRecord((*self.own_terms, *_ip_terms(self.networks),
                          *(Mechanism(MechanismKind.INCLUDE, domain_spec=i) for i in self.includes),
                          Mechanism(MechanismKind.ALL, self.all_qualifier)))


@dataclass(frozen=True)
class Resolution:
    """The vendors' trees as resolved now (or from the last snapshot), with every answer seen."""

    includes: Mapping[str, Expansion]
    own: Expansion
    capture: Capture


async def resolve(policy: SpfPolicy, client: DnsClient) -> Resolution:
    """Walk every approved include and the own terms through ``client``; keep the answers."""
    recorder = RecordingClient(client)
    includes = {name: await expand_include(name, recorder) for name in policy.includes}
    own = await expand_terms(policy.domain, policy.own_terms, recorder)
    return Resolution(includes, own, recorder.capture())


@dataclass(frozen=True)
class CompiledSpf:
    """The record to publish at the domain, the names to serve under the hosted zone, and how it got there."""

    policy: SpfPolicy
    mode: SpfMode  # CONVENTIONAL or EXISTS
    record: SpfRecord
    lookups: int  # DNS-querying terms of the worst-case check, nested includes counted
    zone: tuple[ZoneRecord, ...]
    flattened: tuple[str, ...]  # includes written out as addresses
    kept: tuple[tuple[str, str], ...]  # (include, why it stays an include)
    warnings: tuple[str, ...] = ()


def compile_spf(policy: SpfPolicy, resolution: Resolution) -> CompiledSpf:
    """The compiled record for ``policy`` (mode AUTO picks conventional when it fits plainly)."""
    if policy.mode is SpfMode.EXISTS:
        return _exists(policy, resolution)
    conventional = _conventional(policy, resolution, allow_chains=policy.mode is SpfMode.CONVENTIONAL)
    if conventional is not None:
        return conventional
    if policy.mode is SpfMode.CONVENTIONAL:
        raise SpfCompileError(f"{policy.domain}: the approved senders do not fit in {LOOKUP_LIMIT} lookups as a "
                              "conventional record; use the exists form")
    return _exists(policy, resolution)


# --------------------------------------------------------------------------- conventional


def _conventional(policy: SpfPolicy, res: Resolution, allow_chains: bool) -> CompiledSpf | None:
    budget = LOOKUP_LIMIT - res.own.lookups
    kept = {name: res.includes[name] for name in policy.includes}
    flattened: list[str] = []
    # flatten the costliest flattenable includes first, only while the check does not fit
    for exp in sorted(kept.values(), key=lambda e: (-e.lookups, e.name)):
        if sum(e.lookups for e in kept.values()) <= budget:
            break
        if exp.flattenable:
            flattened.append(exp.name)
            del kept[exp.name]
    networks = collapse([*policy.networks, *(n for name in flattened for n in res.includes[name].networks)])
    head = [*policy.own_terms]
    tail = [*(Mechanism(MechanismKind.INCLUDE, domain_spec=name) for name in kept),
            Mechanism(MechanismKind.ALL, policy.all_qualifier)]
    ip_terms = _ip_terms(networks)
    record = SpfRecord((*head, *ip_terms, *tail))
    zone: list[ZoneRecord] = []
    if len(record.to_text()) > policy.max_length:
        if not allow_chains:
            return None
        chains, zone = _chain(policy, head, tail, ip_terms)
        record = SpfRecord((*head, *chains, *tail))
    lookups = res.own.lookups + sum(e.lookups for e in kept.values()) + len(zone)
    if lookups > LOOKUP_LIMIT:
        return None
    return CompiledSpf(policy, SpfMode.CONVENTIONAL, record, lookups, tuple(zone), tuple(flattened),
                       tuple((name, _why_kept(exp)) for name, exp in kept.items()))


def _chain(policy: SpfPolicy, head: list[Mechanism], tail: list[Mechanism],
           ip_terms: list[Mechanism]) -> tuple[list[Mechanism], list[ZoneRecord]]:
    """Move address terms into ``_cN.ZONE`` records of at most ``max_length`` characters each."""
    chains: list[Mechanism] = []
    zone: list[ZoneRecord] = []
    pieces: list[list[Mechanism]] = [[]]
    for term in ip_terms:
        candidate = SpfRecord((*pieces[-1], term)).to_text()
        if pieces[-1] and len(candidate) > policy.max_length:
            pieces.append([])
        pieces[-1].append(term)
    for number, piece in enumerate(pieces, 1):
        name = f"{CHAIN_LABEL.format(number)}.{policy.hosted_zone}"
        zone.append(ZoneRecord(name, "TXT", SpfRecord(tuple(piece)).to_text()))
        chains.append(Mechanism(MechanismKind.INCLUDE, domain_spec=name))
    if len(SpfRecord((*head, *chains, *tail)).to_text()) > policy.max_length:
        raise SpfCompileError(f"{policy.domain}: the record is too long even with its addresses chained")
    return chains, zone


# --------------------------------------------------------------------------- exists


def _exists(policy: SpfPolicy, res: Resolution) -> CompiledSpf:
    kept = {name: exp for name, exp in res.includes.items() if not exp.flattenable}
    flattened = tuple(name for name in policy.includes if name not in kept)
    own_flat = res.own.flattenable
    networks = collapse([*policy.networks, *(n for name in flattened for n in res.includes[name].networks),
                         *(res.own.networks if own_flat else ())])
    exists = Mechanism(MechanismKind.EXISTS, domain_spec=f"%{{ir}}.%{{v}}.{policy.exists_base}")
    record = SpfRecord((exists, *(() if own_flat else policy.own_terms),
                        *(Mechanism(MechanismKind.INCLUDE, domain_spec=name) for name in kept),
                        Mechanism(MechanismKind.ALL, policy.all_qualifier)))
    lookups = 1 + (0 if own_flat else res.own.lookups) + sum(e.lookups for e in kept.values())
    warnings = []
    if lookups > LOOKUP_LIMIT:
        warnings.append(f"{lookups} DNS lookups: the includes kept ({', '.join(kept)}) exceed the limit of "
                        f"{LOOKUP_LIMIT} (RFC 7208 §4.6.4); receivers will answer permerror")
    if len(kept) >= 2:
        warnings.append(f"{len(kept)} includes kept besides the exists term: for unapproved addresses their empty "
                        "answers may reach the limit of 2 void lookups (RFC 7208 §4.6.4), giving permerror instead "
                        "of the closing all's result (still not a pass)")
    if not own_flat and policy.own_terms:
        warnings.append(f"own terms kept as written: {res.own.problem}")
    zone = tuple(ZoneRecord(name, "A", EXISTS_TARGET) for net in networks for name in exists_names(net, policy))
    return CompiledSpf(policy, SpfMode.EXISTS, record, lookups, zone, flattened,
                       tuple((name, _why_kept(exp)) for name, exp in kept.items()), tuple(warnings))


def exists_names(network: IPNetwork, policy: SpfPolicy) -> list[str]:
    """The names under ``_spf.ZONE`` that make ``exists:%{ir}.%{v}._spf.ZONE`` match exactly ``network``.

    A prefix on an octet (IPv4) or nibble (IPv6) boundary is one wildcard
    (``*.2.0.192.in-addr._spf.ZONE`` for 192.0.2.0/24) or, for a single
    address, one name; any other prefix becomes the aligned prefixes that
    together cover exactly it (a /22 gives four /24 wildcards).
    """
    v4 = isinstance(network, ipaddress.IPv4Network)
    step = 8 if v4 else 4
    if network.prefixlen == 0:
        raise SpfCompileError(f"{network}: authorising every address is never intended")
    aligned = min(network.max_prefixlen, math.ceil(network.prefixlen / step) * step)
    names = []
    for sub in network.subnets(new_prefix=aligned):
        if v4:
            labels = str(sub.network_address).split(".")[: aligned // 8]
        else:
            labels = list(sub.network_address.exploded.replace(":", "")[: aligned // 4])
        owner = ".".join(reversed(labels)) + (".in-addr." if v4 else ".ip6.") + policy.exists_base
        names.append(owner if aligned == network.max_prefixlen else "*." + owner)
    return names


# --------------------------------------------------------------------------- helpers


def _ip_terms(networks: Iterable[IPNetwork]) -> list[Mechanism]:
    return [Mechanism(MechanismKind.IP4 if isinstance(n, ipaddress.IPv4Network) else MechanismKind.IP6, network=n)
            for n in networks]


def _why_kept(exp: Expansion) -> str:
    return exp.problem or "fits within the lookup limit"

