"""Name the service behind every source address, and classify it.

Attribution uses only evidence that is specific to a service (DESIGN.md,
issue 3): a passing DKIM signature by one of its signing domains, a
forward-confirmed reverse-DNS name under one of its suffixes, one of its
bounce domains as the envelope sender, or its own mail network's ASN. A
public cloud hosting many customers is never a service by itself: an
address there without such evidence stays unattributed, grouped by network
owner and reverse-DNS organisational domain so that "unknown" is never one
opaque bucket.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from dmarcpilot.analysis.ranges import VendorRanges, address_value
from dmarcpilot.enrich.catalogue import Catalogue, Service, ServiceKind
from dmarcpilot.enrich.ipdata import IpInfo
from dmarcpilot.enrich.orgdomain import organizational_domain


class Confidence(enum.Enum):
    HIGH = "high"  # passing DKIM by the service's domain, or confirmed rDNS
    MEDIUM = "medium"  # the service's bounce domain with SPF pass, ranges only its SPF include holds, its own ASN
    LOW = "low"  # the service's bounce domain without SPF pass


class SenderClass(enum.Enum):
    APPROVED = "approved"
    KNOWN_UNAPPROVED = "known-but-unapproved"
    FORWARDER = "forwarder"
    SUSPICIOUS = "suspicious"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class SourceEvidence:
    """What the reports say about one source address of a domain.

    The evidence maps (domain -> messages) are plain dicts: an analysis read
    back from the store (``analysis.snapshot``) takes them as JSON gives them.
    """

    ip: str
    messages: int = 0
    dkim_aligned: int = 0
    spf_aligned: int = 0
    dmarc_pass: int = 0
    dkim_pass_domains: dict[str, int] = field(default_factory=dict)
    envelope_domains: dict[str, int] = field(default_factory=dict)
    spf_pass_domains: dict[str, int] = field(default_factory=dict)

    def add_evidence(self, kind: str, domain: str, messages: int, passed: int) -> None:
        """One row of the evidence rollup (``store.rollups.EvidenceCollector``)."""
        if kind == "dkim":
            self.dkim_pass_domains[domain] = self.dkim_pass_domains.get(domain, 0) + messages
        elif kind == "envelope":
            self.envelope_domains[domain] = self.envelope_domains.get(domain, 0) + messages
            if passed:
                self.spf_pass_domains[domain] = self.spf_pass_domains.get(domain, 0) + passed


def most_common(counts: dict[str, int], limit: int | None = None) -> list[tuple[str, int]]:
    """The entries of ``counts``, largest first (ties in insertion order, as ``Counter.most_common``)."""
    ranked = sorted(counts.items(), key=lambda item: -item[1])
    return ranked if limit is None else ranked[:limit]


@dataclass(frozen=True, slots=True)
class Attribution:
    service: Service | None
    confidence: Confidence | None
    evidence: tuple[str, ...]
    group: str  # the service id, or "unknown: <owner> / <rDNS org domain>"


def attribute(ev: SourceEvidence, info: IpInfo, ptr: str | None, ptr_confirmed: bool,
              catalogue: Catalogue, ranges: VendorRanges | None = None) -> Attribution:
    """The service behind one source, with the evidence that names it.

    In order of specificity: a passing DKIM signature by the service's
    domain, its forward-confirmed reverse DNS, its bounce domain, the ranges
    only its SPF includes authorise, its own mail network's AS.
    """
    for domain, _ in most_common(ev.dkim_pass_domains):
        service = catalogue.by_dkim_domain(domain)
        if service is not None:
            return _found(service, Confidence.HIGH, f"DKIM signature d={domain} passes")
    if ptr and ptr_confirmed:
        service = catalogue.by_rdns(ptr)
        if service is not None:
            return _found(service, Confidence.HIGH, f"reverse DNS {ptr} (forward-confirmed)")
    for domain, _ in most_common(ev.envelope_domains):
        service = catalogue.by_return_path(domain)
        if service is not None:
            passed = ev.spf_pass_domains.get(domain, 0) > 0
            return _found(service, Confidence.MEDIUM if passed else Confidence.LOW,
                          f"envelope sender domain {domain}" + (" with SPF pass" if passed else ""))
    hit = ranges.only_service(ev.ip) if ranges else None
    if hit is not None:
        return _found(hit.service, Confidence.MEDIUM,
                      f"inside the ranges of {hit.service.name}'s SPF include {hit.include} "
                      f"(resolved {hit.resolved.isoformat()})")
    service = catalogue.by_asn(info.asn)
    if service is not None:
        return _found(service, Confidence.MEDIUM, f"AS{info.asn} is {service.name}'s own mail network")
    return Attribution(None, None, (), _unknown_group(info, ptr))


def _found(service: Service, confidence: Confidence, evidence: str) -> Attribution:
    return Attribution(service, confidence, (evidence,), service.id)


def _unknown_group(info: IpInfo, ptr: str | None) -> str:
    owner = info.as_name or (f"AS{info.asn}" if info.asn else "unknown network")
    base = organizational_domain(ptr) if ptr else None
    return f"unknown: {owner} / {base or 'no reverse DNS'}"


def classify(ev: SourceEvidence, attribution: Attribution, decision: str | None, approved_by_network: bool) -> (
        SenderClass):
    """Approved, known-but-unapproved, forwarder, suspicious or unknown.

    ``decision`` is the domain's decision for the attributed service
    ("approved", "rejected" or None).
    """
    service = attribution.service
    if approved_by_network or decision == "approved":
        return SenderClass.APPROVED
    if service is not None and service.kind is ServiceKind.FORWARDER:
        return SenderClass.FORWARDER
    if service is not None:
        return SenderClass.KNOWN_UNAPPROVED
    # RFC 9989 section 5 / RFC 7960: forwarding breaks SPF but keeps DKIM.
    if ev.dkim_aligned and not ev.spf_aligned:
        return SenderClass.FORWARDER
    if ev.dmarc_pass == 0:
        return SenderClass.SUSPICIOUS
    return SenderClass.UNKNOWN


class NetworkSet:
    """Approved networks, tested fast: a source's text address is packed once, then compared as integers."""

    def __init__(self, networks: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> None:
        self._v4 = [(int(n.network_address), int(n.broadcast_address)) for n in networks if n.version == 4]
        self._v6 = [(int(n.network_address), int(n.broadcast_address)) for n in networks if n.version == 6]

    def __bool__(self) -> bool:
        return bool(self._v4 or self._v6)

    def __contains__(self, ip: str) -> bool:
        packed = address_value(ip)
        if packed is None:
            return False
        version, value = packed
        return any(low <= value <= high for low, high in (self._v6 if version == 6 else self._v4))
