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
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.figures import rate
from dmarcpilot.analysis.identify import SenderClass
from dmarcpilot.enrich.catalogue import Catalogue, Service

#: The largest sources and forwarders a digest lists (what a dashboard shows).
TOP_SOURCES = 50
TOP_FORWARDERS = 100
#: Forwarders it keeps: sources stop being forwarders (new reports show SPF passing), so a reserve lets the
#: list be updated in place many times before it must be made again from every source.
KEPT_FORWARDERS = 2 * TOP_FORWARDERS
FORMAT = 3  # 2: the groups' sums, to update a digest in place; 3: forwarders kept beyond those shown
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
    kept_forwarders: list[dict[str, Any]]  # likewise, of the largest forwarders (up to KEPT_FORWARDERS)
    forwarders_total: int
    groups: dict[str, list[Any]]  # each sender row's sums, as ``_Group.state`` (to update the digest)

    @property
    def forwarders(self) -> list[dict[str, Any]]:
        """The largest TOP_FORWARDERS forwarders."""
        return self.kept_forwarders[:TOP_FORWARDERS]

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
    # one pass summing the sources by group, class and country (a few thousand cells for 16,000 sources)
    cells: dict[tuple[str, SenderClass, str | None], list[int]] = {}
    leaders: dict[str, AnalysedSource] = {}
    for row in rows:
        key = (row.attribution.group, row.sender_class, row.info.country)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = [0, 0, 0, 0, 0]
            leaders.setdefault(key[0], row)
        ev = row.evidence
        cell[0] += ev.messages
        cell[1] += ev.dmarc_pass
        cell[2] += ev.spf_aligned
        cell[3] += ev.dkim_aligned
        cell[4] += 1
    sums = _Sums()
    groups: dict[str, _Group] = {}
    for (name, cls, country), cell in cells.items():
        sums.add_cell(cls, country, *cell)
        group = groups.get(name)
        if group is None:
            group = groups[name] = _Group.leading(leaders[name])
        group.add_cell(cls, *cell)
    forwarders = [r for r in rows if r.sender_class is SenderClass.FORWARDER]
    return sums.digest(
        {name: (g, g.service) for name, g in groups.items()},
        [r.to_dict() for r in rows[:TOP_SOURCES]],
        [r.to_dict() for r in forwarders[:KEPT_FORWARDERS]], len(forwarders))


def updated(before: Digest, old: Mapping[str, AnalysedSource], new: Sequence[AnalysedSource],
            catalogue: Catalogue) -> Digest | None:
    """``before`` with the sources ``new`` replacing their ``old`` selves (absent: new sources).

    Exact (as ``digest_of`` of the whole updated analysis, but for fewer forwarders kept in reserve)
    when new reports only
    add messages (``analysis.incremental``); None when the digest alone cannot
    tell (a group's largest source moved to another group, or a listed
    forwarder stopped being one while more were not listed).
    """
    sums = _Sums.of(before)
    groups = {name: _Group(state) for name, state in before.groups.items()}
    if any(row.attribution.group not in groups for row in old.values()):
        return None  # not the digest of these sources
    for row in old.values():
        sums.add(row, -1)
        groups[row.attribution.group].add(row, -1)
    for row in new:
        sums.add(row, 1)
        group = groups.get(row.attribution.group)
        if group is None:
            group = groups[row.attribution.group] = _Group.leading(row)
        group.add(row, 1)
    for row in new:
        groups[row.attribution.group].lead(row)
    now_in = {r.evidence.ip: r.attribution.group for r in new}
    for row in old.values():
        group = groups[row.attribution.group]
        moved = row.attribution.group != now_in.get(row.evidence.ip)
        if moved and group.leader[0] == row.evidence.ip and group.sources:
            return None  # its next largest source is not in the digest
    services: dict[str, tuple[_Group, Service | None]] = {}
    for name, g in groups.items():
        service = catalogue.services.get(g.service_id) if g.service_id else None
        if g.service_id and service is None:
            return None
        if g.sources:
            services[name] = (g, service)
    is_forwarder = [r for r in new if r.sender_class is SenderClass.FORWARDER]
    forwarders_total = before.forwarders_total + len(is_forwarder) - sum(
        1 for r in old.values() if r.sender_class is SenderClass.FORWARDER)
    touched = {r.evidence.ip for r in new}
    top = _merged(before.top_sources, before.sources, touched, new, TOP_SOURCES, TOP_SOURCES)
    forwarders = _merged(before.kept_forwarders, before.forwarders_total, touched, is_forwarder, TOP_FORWARDERS,
                         KEPT_FORWARDERS)
    if top is None or forwarders is None:
        return None
    changed = {r.attribution.group for r in old.values()} | {r.attribution.group for r in new}
    unchanged = {row["service_id"] or row["service"]: row for row in before.senders}
    for name in changed:
        unchanged.pop(name, None)
    return sums.digest(services, top, forwarders, forwarders_total, unchanged)


def _merged(listed: list[dict[str, Any]], total: int, touched: set[str], members: Sequence[AnalysedSource],
            shown: int, kept: int) -> list[dict[str, Any]] | None:
    """The largest of a set whose largest were ``listed`` (of ``total``), after an update: at most ``kept``.

    The ``touched`` sources are now ``members`` of the set, or gone from it. A source the list did not
    hold comes after its last one, so only the list's entries up to there are certain: None when they
    are fewer than the ``shown`` ones.
    """
    pool = sorted([d for d in listed if d["ip"] not in touched] + [r.to_dict() for r in members], key=_order)
    if total > len(listed) and listed:
        cutoff = _order(listed[-1])
        pool = [d for d in pool if _order(d) <= cutoff]
        if len(pool) < shown:
            return None
    return pool[:kept]


def _order(d: dict[str, Any]) -> tuple[int, str]:
    return (-d["messages"], d["ip"])


class _Sums:
    """The digest's additive figures (a source counts with sign 1, or -1 to take it out again)."""

    def __init__(self) -> None:
        self.totals = dict.fromkeys(("messages", "dmarc_pass", "spf_aligned", "dkim_aligned", "sources",
                                     "approved_messages", "approved_pass"), 0)
        self.classes: Counter[str] = Counter()
        self.country_messages: Counter[str] = Counter()
        self.country_sources: Counter[str] = Counter()

    @classmethod
    def of(cls, digest: Digest) -> _Sums:
        sums = cls()
        for name in sums.totals:
            sums.totals[name] = getattr(digest, name)
        sums.classes.update(digest.classes)
        for c in digest.countries:
            sums.country_messages[c["country"]] = c["messages"]
            sums.country_sources[c["country"]] = c["sources"]
        return sums

    def add(self, row: AnalysedSource, sign: int) -> None:
        ev = row.evidence
        self.add_cell(row.sender_class, row.info.country, sign * ev.messages, sign * ev.dmarc_pass,
                      sign * ev.spf_aligned, sign * ev.dkim_aligned, sign)

    def add_cell(self, cls: SenderClass, country: str | None, messages: int, dmarc_pass: int, spf_aligned: int,
                 dkim_aligned: int, sources: int) -> None:
        """Sums of sources of one class and country (negative: taken out)."""
        t = self.totals
        t["messages"] += messages
        t["dmarc_pass"] += dmarc_pass
        t["spf_aligned"] += spf_aligned
        t["dkim_aligned"] += dkim_aligned
        t["sources"] += sources
        if cls is SenderClass.APPROVED:
            t["approved_messages"] += messages
            t["approved_pass"] += dmarc_pass
        self.classes[cls.value] += messages
        country = country or UNKNOWN_COUNTRY
        self.country_messages[country] += messages
        self.country_sources[country] += sources

    def digest(self, groups: Mapping[str, tuple[_Group, Service | None]], top: list[dict[str, Any]],
               forwarders: list[dict[str, Any]], forwarders_total: int,
               unchanged: Mapping[str, dict[str, Any]] | None = None) -> Digest:
        """The digest of these sums and groups; ``unchanged``: sender rows still right, by group."""
        unchanged = unchanged or {}
        # ties ordered by name, so a digest updated in place equals one computed afresh
        classes = sorted(((c, n) for c, n in self.classes.items() if n), key=lambda cn: (-cn[1], cn[0]))
        countries = sorted((c for c, n in self.country_sources.items() if n),
                           key=lambda c: (-self.country_messages[c], c))
        rows = sorted((unchanged.get(name) or g.row(name, service) for name, (g, service) in groups.items()),
                      key=lambda r: (-r["messages"], r["service"]))
        return Digest(
            **self.totals, classes=dict(classes),
            countries=[{"country": c, "messages": self.country_messages[c], "sources": self.country_sources[c]}
                       for c in countries],
            senders=rows, top_sources=top, kept_forwarders=forwarders, forwarders_total=forwarders_total,
            groups={name: g.state() for name, (g, _) in groups.items()})


def senders(sources: Sequence[AnalysedSource]) -> list[dict[str, Any]]:
    """One row per service or unknown group, largest first (one pass over the sources)."""
    return digest_of(sources).senders


class _Group:
    """Sums of one service's (or unknown group's) sources; the class weighs each source by its messages.

    Its leader is its largest source (the first in ``analyse``'s order): the row shows that one's status.
    """

    __slots__ = ("dkim_aligned", "dmarc_pass", "leader", "messages", "service", "service_id", "sources",
                 "spf_aligned", "status", "weight")

    def __init__(self, state: list[Any]) -> None:
        (self.messages, self.dmarc_pass, self.spf_aligned, self.dkim_aligned, self.sources, weight, leader,
         self.service_id, self.status) = state
        self.weight: dict[str, int] = dict(weight)
        self.leader: tuple[str, int] = (leader[0], leader[1])
        self.service: Service | None = None

    @classmethod
    def leading(cls, row: AnalysedSource) -> _Group:
        service = row.attribution.service
        group = cls([0, 0, 0, 0, 0, {}, ["", -1], service.id if service else None, row.status])
        group.service = service
        group.lead(row)
        return group

    def state(self) -> list[Any]:
        return [self.messages, self.dmarc_pass, self.spf_aligned, self.dkim_aligned, self.sources, self.weight,
                list(self.leader), self.service_id, self.status]

    def lead(self, row: AnalysedSource) -> None:
        """Make ``row`` the leader if it comes before the current one in ``analyse``'s order."""
        messages, ip = row.evidence.messages, row.evidence.ip
        if ip == self.leader[0] or (-messages, ip) < (-self.leader[1], self.leader[0]):
            self.leader = (ip, messages)
            self.status = row.status
            self.service = row.attribution.service
            self.service_id = self.service.id if self.service else None

    def add(self, source: AnalysedSource, sign: int) -> None:
        ev = source.evidence
        self.add_cell(source.sender_class, sign * ev.messages, sign * ev.dmarc_pass, sign * ev.spf_aligned,
                      sign * ev.dkim_aligned, sign)

    def add_cell(self, cls: SenderClass, messages: int, dmarc_pass: int, spf_aligned: int, dkim_aligned: int,
                 sources: int) -> None:
        """Sums of sources of one class (negative: taken out)."""
        self.messages += messages
        self.dmarc_pass += dmarc_pass
        self.spf_aligned += spf_aligned
        self.dkim_aligned += dkim_aligned
        self.sources += sources
        weight = self.weight[cls.value] = self.weight.get(cls.value, 0) + messages
        if sources < 0 and weight <= 0:
            del self.weight[cls.value]

    def row(self, name: str, service: Service | None) -> dict[str, Any]:
        return {
            "service": service.name if service else name, "service_id": service.id if service else None,
            "category": service.category if service else None,
            "class": max(self.weight, key=lambda c: (self.weight[c], c)),
            "status": self.status if service else "pending",
            "messages": self.messages, "sources": self.sources,
            "spf_aligned_rate": rate(self.spf_aligned, self.messages),
            "dkim_aligned_rate": rate(self.dkim_aligned, self.messages),
            "dmarc_pass_rate": rate(self.dmarc_pass, self.messages),
            "fix": service.alignment if service and self.dmarc_pass < self.messages else None,
        }
