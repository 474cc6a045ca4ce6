"""Sources and senders of a domain: attributed, classified, grouped.

``analyse`` turns the daily rollups of a window (counters and
identification evidence per source, never the raw records) into one
analysed row per source address; ``senders`` groups them into one row per service, or per
unknown group (network owner and reverse-DNS organisational domain).
"""

from __future__ import annotations

import ipaddress
import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.figures import rate, window_start
from dmarcpilot.analysis.identify import Attribution, NetworkSet, SenderClass, SourceEvidence, attribute, classify
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase, IpInfo
from dmarcpilot.gcpause import gc_paused
from dmarcpilot.store.queries import data_version, decisions, reverse_names, source_counters, source_evidence


@dataclass(frozen=True, slots=True)
class AnalysedSource:
    evidence: SourceEvidence
    info: IpInfo
    ptr: str | None
    ptr_confirmed: bool
    attribution: Attribution
    sender_class: SenderClass
    status: str  # approved | rejected | pending

    def to_dict(self) -> dict[str, Any]:
        ev, service = self.evidence, self.attribution.service
        return {
            "ip": ev.ip, "service": service.id if service else None, "group": self.attribution.group,
            "class": self.sender_class.value, "status": self.status, "messages": ev.messages,
            "dmarc_pass_rate": rate(ev.dmarc_pass, ev.messages), "country": self.info.country,
            "asn": self.info.asn, "as_org": self.info.as_name, "ptr": self.ptr, "ptr_confirmed": self.ptr_confirmed,
            "confidence": self.attribution.confidence.value if self.attribution.confidence else None,
            "evidence": list(self.attribution.evidence),
        }


def analyse(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, catalogue: Catalogue,
            today: date | None = None, bounded: bool = False) -> list[AnalysedSource]:
    """The window of ``days`` days ending ``today``; reports after ``today`` count too unless ``bounded``.

    The result is kept per process until the store's data for the domain
    changes (``store.queries.data_version``): a dashboard asking again, or a
    second command of the same job, costs a few index reads.
    """
    key = (str(engine.url), domain, days, window_start(days, today), bounded, id(ipdb), id(catalogue),
           data_version(engine, domain))
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return list(cached)
    with gc_paused():
        rows = _analyse(engine, domain, days, ipdb, catalogue, today, bounded)
    with _LOCK:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = tuple(rows)
    return rows


_CACHE: dict[tuple[Any, ...], tuple[AnalysedSource, ...]] = {}
_CACHE_SIZE = 32
_LOCK = threading.Lock()  # the web app analyses in a thread pool


def clear_cache() -> None:
    """Forget every cached analysis (benchmarks measure the cold path with it)."""
    with _LOCK:
        _CACHE.clear()


def _analyse(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, catalogue: Catalogue,
             today: date | None, bounded: bool) -> list[AnalysedSource]:
    since = window_start(days, today)
    until = since + timedelta(days=days) if bounded else None
    evidence = {
        c.ip: SourceEvidence(c.ip, c.messages, c.dkim_aligned, c.spf_aligned, c.dmarc_pass)
        for c in source_counters(engine, domain, since, until)
    }
    for ip, kind, value, messages, passed in source_evidence(engine, domain, since, until):
        if ip in evidence:
            evidence[ip].add_evidence(kind, value, messages, passed)
    names = reverse_names(engine, list(evidence))
    service_decisions, network_texts = decisions(engine, domain)
    networks = NetworkSet(ipaddress.ip_network(n) for n in network_texts)
    out = []
    for ip in sorted(evidence, key=lambda i: (-evidence[i].messages, i)):
        ev, info = evidence[ip], ipdb.lookup(ip)
        ptr, confirmed = names.get(ip, (None, False))
        attribution = attribute(ev, info, ptr, confirmed, catalogue)
        by_network = bool(networks) and ip in networks
        decision = service_decisions.get(attribution.service.id) if attribution.service else None
        status = "approved" if by_network else (decision or "pending")
        out.append(AnalysedSource(ev, info, ptr, confirmed, attribution,
                                  classify(ev, attribution, decision, by_network), status))
    return out


def senders(sources: list[AnalysedSource]) -> list[dict[str, Any]]:
    """One row per service or unknown group, largest first."""
    groups: dict[str, list[AnalysedSource]] = defaultdict(list)
    for source in sources:
        groups[source.attribution.group].append(source)
    rows = []
    for group, members in groups.items():
        service = members[0].attribution.service
        messages = sum(m.evidence.messages for m in members)
        passing = sum(m.evidence.dmarc_pass for m in members)
        classes = {m.sender_class for m in members}
        rows.append({
            "service": service.name if service else group, "service_id": service.id if service else None,
            "category": service.category if service else None,
            "class": _dominant(members) if len(classes) > 1 else next(iter(classes)).value,
            "status": members[0].status if service else "pending",
            "messages": messages, "sources": len(members),
            "spf_aligned_rate": rate(sum(m.evidence.spf_aligned for m in members), messages),
            "dkim_aligned_rate": rate(sum(m.evidence.dkim_aligned for m in members), messages),
            "dmarc_pass_rate": rate(passing, messages),
            "fix": service.alignment if service and passing < messages else None,
        })
    return sorted(rows, key=lambda r: (-r["messages"], r["service"]))


def _dominant(members: list[AnalysedSource]) -> str:
    weight: dict[SenderClass, int] = defaultdict(int)
    for member in members:
        weight[member.sender_class] += member.evidence.messages
    return max(weight, key=lambda c: (weight[c], c.value)).value
