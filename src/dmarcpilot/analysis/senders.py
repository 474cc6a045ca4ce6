"""Sources and senders of a domain: attributed, classified, grouped.

``analyse`` turns the daily rollups of a window (counters and
identification evidence per source, never the raw records) into one
analysed row per source address; ``senders`` groups them into one row per service, or per
unknown group (network owner and reverse-DNS organisational domain).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.figures import rate, window_start
from dmarcpilot.analysis.identify import NetworkSet, SenderClass, SourceEvidence, attribute, classify
from dmarcpilot.analysis.incremental import advance
from dmarcpilot.analysis.ranges import VendorRanges
from dmarcpilot.analysis.snapshot import (
    Decoded,
    decode,
    encode,
    read,
    snapshot_basis,
    snapshot_version,
    window_name,
)
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.gcpause import gc_paused
from dmarcpilot.store.queries import (
    data_version,
    decisions,
    include_networks,
    reverse_names,
    source_counters,
    source_evidence,
)
from dmarcpilot.store.snapshots import (
    forget_snapshots,
    load_latest_snapshot,
    load_snapshot,
    save_snapshot,
    stored_version,
)

__all__ = ["AnalysedSource", "analyse", "clear_cache", "flush_saves", "is_current", "senders"]

log = logging.getLogger(__name__)


def analyse(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, catalogue: Catalogue,
            today: date | None = None, bounded: bool = False) -> list[AnalysedSource]:
    """The window of ``days`` days ending ``today``; reports after ``today`` count too unless ``bounded``.

    Computed once per version of what it depends on (``analysis.snapshot``):
    kept in this process, and in the store for every other process, until
    the store's data for the domain changes (``store.queries.data_version``),
    or the catalogue or IP data do. A dashboard asking again, a second
    command of the same job, or a web process on another machine costs a
    few index reads and, at most, one snapshot read. After new reports only,
    the kept analysis is brought up to date with them
    (``analysis.incremental``); anything else is computed from the rollups.
    """
    since = window_start(days, today)
    until = since + timedelta(days=days) if bounded else None
    window = window_name(days, since, until)
    current = data_version(engine, domain)
    basis = snapshot_basis(current, catalogue, ipdb)
    version = snapshot_version(basis)
    key = (str(engine.url), domain, window, version)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return list(cached)
    with gc_paused():
        payload = load_snapshot(engine, domain, window, version)
        rows = decode(payload, catalogue) if payload is not None else None
        if rows is None:
            advanced = _advanced(engine, domain, window, basis, since, until, ipdb, catalogue)
            if advanced is not None:
                rows, previous, changed = advanced
                _save(engine, domain, window, version, functools.partial(encode, rows, basis, previous, changed))
            else:
                rows = _analyse(engine, domain, days, ipdb, catalogue, today, bounded)
                # reports that arrived while computing may be in the rows: then they are of no exact basis
                exact = data_version(engine, domain) == current
                _save(engine, domain, window, version, functools.partial(encode, rows, basis if exact else None))
    with _LOCK:
        while len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = tuple(rows)
    return rows


def _advanced(engine: sa.Engine, domain: str, window: str, basis: list[str], since: date, until: date | None,
              ipdb: IpDatabase, catalogue: Catalogue) -> tuple[list[AnalysedSource], Decoded, set[str]] | None:
    """The window's last kept analysis brought up to date with the reports stored since, when that is exact."""
    payload = load_latest_snapshot(engine, domain, window)
    previous = read(payload, catalogue) if payload is not None else None
    if previous is None or previous.basis is None:
        return None
    found = advance(engine, domain, previous.rows, previous.basis, basis, since, until,
                    _attributor(engine, domain, ipdb, catalogue))
    return None if found is None else (found[0], previous, found[1])


def _save(engine: sa.Engine, domain: str, window: str, version: str, payload: Callable[[], bytes]) -> None:
    """Share the analysis with every process, after the caller has its answer (``flush_saves`` waits).

    Best effort: a store that refuses (read-only, busy) only costs the next process some speed.
    """
    future = _SAVER.submit(_write, engine, domain, window, version, payload)
    with _LOCK:
        _PENDING[:] = [f for f in _PENDING if not f.done()]
        _PENDING.append(future)


def _write(engine: sa.Engine, domain: str, window: str, version: str, payload: Callable[[], bytes]) -> None:
    # one interpreter lock: encoding now would slow the caller's own answer (a page still rendering),
    # so give it a moment first, unless someone is waiting for the save
    _HURRY.wait(SAVE_DELAY)
    try:
        save_snapshot(engine, domain, window, version, payload())
    except Exception as exc:  # a cache that could not be written is logged, never fatal
        log.warning("analysis of %s not kept in the store: %s", domain, exc)


def flush_saves() -> None:
    """Wait until every analysis computed in this process is in the store (jobs, tests, benchmarks)."""
    with _LOCK:
        pending = list(_PENDING)
        _PENDING.clear()
    _HURRY.set()
    try:
        for future in pending:
            future.result()
    finally:
        _HURRY.clear()


def is_current(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, catalogue: Catalogue,
               today: date | None = None) -> bool:
    """Whether the store holds the analysis of this window for the data as it is now (no payload read)."""
    since = window_start(days, today)
    version = snapshot_version(snapshot_basis(data_version(engine, domain), catalogue, ipdb))
    return stored_version(engine, domain, window_name(days, since, None)) == version


_CACHE: dict[tuple[Any, ...], tuple[AnalysedSource, ...]] = {}
_CACHE_SIZE = 32
_LOCK = threading.Lock()  # the web app analyses in a thread pool
# one writer thread: encoding a year of 16,000 sources takes ~130 ms nobody should wait for; its
# threads are joined at interpreter exit, so a command's analysis is kept before the process ends
_SAVER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis-save")
_PENDING: list[Future[None]] = []
_HURRY = threading.Event()
#: Seconds a save waits before it starts encoding (the caller's answer goes first).
SAVE_DELAY = 0.3


def clear_cache(engine: sa.Engine | None = None) -> None:
    """Forget every analysis kept in this process (and in ``engine``'s store, when given).

    Pending saves finish first, as when another process asks later. Benchmarks measure the path after
    new data with both forgotten.
    """
    flush_saves()
    with _LOCK:
        _CACHE.clear()
    if engine is not None:
        forget_snapshots(engine)


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
    rows = _attributor(engine, domain, ipdb, catalogue)(list(evidence.values()))
    return sorted(rows, key=lambda r: (-r.evidence.messages, r.evidence.ip))


def _attributor(engine: sa.Engine, domain: str, ipdb: IpDatabase,
                catalogue: Catalogue) -> Callable[[list[SourceEvidence]], list[AnalysedSource]]:
    """Attribution and class of sources, with the domain's decisions, networks and vendor ranges read once."""
    service_decisions, network_texts = decisions(engine, domain)
    ranges = VendorRanges(catalogue, include_networks(engine))
    networks = NetworkSet(ipaddress.ip_network(n) for n in network_texts)

    def attribute_all(sources: list[SourceEvidence]) -> list[AnalysedSource]:
        names = reverse_names(engine, [ev.ip for ev in sources])
        out = []
        for ev in sources:
            info = ipdb.lookup(ev.ip)
            ptr, confirmed = names.get(ev.ip, (None, False))
            attribution = attribute(ev, info, ptr, confirmed, catalogue, ranges)
            by_network = bool(networks) and ev.ip in networks
            decision = service_decisions.get(attribution.service.id) if attribution.service else None
            status = "approved" if by_network else (decision or "pending")
            out.append(AnalysedSource(ev, info, ptr, confirmed, attribution,
                                      classify(ev, attribution, decision, by_network), status))
        return out

    return attribute_all


def senders(sources: list[AnalysedSource]) -> list[dict[str, Any]]:
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
