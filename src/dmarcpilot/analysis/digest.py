"""What dashboards and headlines need from an analysis, without its sources.

A year of a large domain is some 16,000 analysed sources; the domain page,
the overview, ``summary`` and ``senders`` only show sums over them (totals,
messages per class and per country, one row per service or unknown group)
and the largest few sources and forwarders. ``digest_of`` computes those
once per analysis; the store keeps the digest beside the analysis
(``store.snapshots``) so another process reads a few kilobytes instead of
turning every source back into objects.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.figures import rate
from dmarcpilot.analysis.identify import SenderClass

#: The largest sources and forwarders a digest keeps (what a dashboard lists).
TOP_SOURCES = 50
TOP_FORWARDERS = 100
FORMAT = 1
UNKNOWN_COUNTRY = "??"


@dataclass(frozen=True)
class Digest:
    """Sums over a window's analysed sources, and its largest sources and forwarders (each largest first)."""

    messages: int
    dmarc_pass: int
    spf_aligned: int
    dkim_aligned: int
    sources: int
    approved_messages: int
    approved_pass: int
    classes: dict[str, int]  # messages per sender class
    countries: list[dict[str, Any]]  # country ("??": not in the IP data), messages, sources
    senders: list[dict[str, Any]]  # ``senders`` rows
    top_sources: list[dict[str, Any]]  # ``AnalysedSource.to_dict`` of the largest TOP_SOURCES
    forwarders: list[dict[str, Any]]  # likewise, of the largest TOP_FORWARDERS forwarders
    forwarders_total: int

    @property
    def country_count(self) -> int:
        """Countries the IP data placed a source in."""
        return sum(1 for c in self.countries if c["country"] != UNKNOWN_COUNTRY)

    def rates(self) -> dict[str, Any]:
        return {
            "messages": self.messages, "sources": self.sources,
            "dmarc_pass_rate": rate(self.dmarc_pass, self.messages),
            "spf_aligned_rate": rate(self.spf_aligned, self.messages),
            "dkim_aligned_rate": rate(self.dkim_aligned, self.messages),
        }

    def to_bytes(self) -> bytes:
        """zlib-compressed JSON (the store's form; never pickle)."""
        fields = {name: getattr(self, name) for name in _FIELDS}
        return zlib.compress(json.dumps([FORMAT, fields], separators=(",", ":")).encode(), 1)

    @classmethod
    def from_bytes(cls, payload: bytes) -> Digest | None:
        """The digest, or None when the payload cannot be used (another format, damaged)."""
        try:
            version, fields = json.loads(zlib.decompress(payload))
            if version != FORMAT or set(fields) != set(_FIELDS):
                return None
            return cls(**fields)
        except (ValueError, TypeError, zlib.error):
            return None


_FIELDS = tuple(Digest.__dataclass_fields__)


def digest_of(rows: Sequence[AnalysedSource]) -> Digest:
    """The digest of an analysis whose rows are largest first (as ``analyse`` returns them)."""
    messages = dmarc_pass = spf_aligned = dkim_aligned = approved_messages = approved_pass = 0
    classes: Counter[str] = Counter()
    country_messages: Counter[str] = Counter()
    country_sources: Counter[str] = Counter()
    forwarders = []
    for row in rows:
        ev = row.evidence
        messages += ev.messages
        dmarc_pass += ev.dmarc_pass
        spf_aligned += ev.spf_aligned
        dkim_aligned += ev.dkim_aligned
        classes[row.sender_class.value] += ev.messages
        if row.sender_class is SenderClass.APPROVED:
            approved_messages += ev.messages
            approved_pass += ev.dmarc_pass
        elif row.sender_class is SenderClass.FORWARDER:
            forwarders.append(row)
        country = row.info.country or UNKNOWN_COUNTRY
        country_messages[country] += ev.messages
        country_sources[country] += 1
    return Digest(
        messages=messages, dmarc_pass=dmarc_pass, spf_aligned=spf_aligned, dkim_aligned=dkim_aligned,
        sources=len(rows), approved_messages=approved_messages, approved_pass=approved_pass,
        classes=dict(classes.most_common()),
        countries=[{"country": c, "messages": n, "sources": country_sources[c]}
                   for c, n in country_messages.most_common()],
        senders=senders(rows), top_sources=[r.to_dict() for r in rows[:TOP_SOURCES]],
        forwarders=[r.to_dict() for r in forwarders[:TOP_FORWARDERS]], forwarders_total=len(forwarders),
    )


def senders(sources: Sequence[AnalysedSource]) -> list[dict[str, Any]]:
    """One row per service or unknown group, largest first (one pass over the sources)."""
    groups: dict[str, _Group] = {}
    for source in sources:
        group = groups.get(source.attribution.group)
        if group is None:
            group = groups[source.attribution.group] = _Group(source)
        group.add(source)
    rows = []
    for name, g in groups.items():
        service = g.first.attribution.service
        rows.append({
            "service": service.name if service else name, "service_id": service.id if service else None,
            "category": service.category if service else None, "class": g.dominant_class(),
            "status": g.first.status if service else "pending",
            "messages": g.messages, "sources": g.sources,
            "spf_aligned_rate": rate(g.spf_aligned, g.messages), "dkim_aligned_rate": rate(g.dkim_aligned, g.messages),
            "dmarc_pass_rate": rate(g.dmarc_pass, g.messages),
            "fix": service.alignment if service and g.dmarc_pass < g.messages else None,
        })
    return sorted(rows, key=lambda r: (-r["messages"], r["service"]))


class _Group:
    """Sums of one service's (or unknown group's) sources; the class weighs each source by its messages."""

    __slots__ = ("dkim_aligned", "dmarc_pass", "first", "messages", "sources", "spf_aligned", "weight")

    def __init__(self, first: AnalysedSource) -> None:
        self.first = first
        self.messages = self.dmarc_pass = self.spf_aligned = self.dkim_aligned = self.sources = 0
        self.weight: dict[SenderClass, int] = defaultdict(int)

    def add(self, source: AnalysedSource) -> None:
        ev = source.evidence
        self.messages += ev.messages
        self.dmarc_pass += ev.dmarc_pass
        self.spf_aligned += ev.spf_aligned
        self.dkim_aligned += ev.dkim_aligned
        self.sources += 1
        self.weight[source.sender_class] += ev.messages

    def dominant_class(self) -> str:
        return max(self.weight, key=lambda c: (self.weight[c], c.value)).value
