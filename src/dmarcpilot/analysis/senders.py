"""Sources and senders of a domain: attributed, classified, grouped.

``analyse`` turns the daily rollups of a window (counters and
identification evidence per source, never the raw records) into one
analysed row per source address; ``senders`` groups them into one row per service, or per
unknown group (network owner and reverse-DNS organisational domain).
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.digest import Digest, digest_of, senders, updated
from dmarcpilot.analysis.figures import window_start
from dmarcpilot.analysis.identify import Attribution, NetworkSet, SenderClass, SourceEvidence, attribute, classify
from dmarcpilot.analysis.incremental import advance, fold_records, reports_to_fold
from dmarcpilot.analysis.ranges import VendorRanges
from dmarcpilot.analysis.snapshot import (
    Decoded,
    Raw,
    decode,
    encode,
    encode_update,
    parse,
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
    records_of,
    reverse_names,
    source_counters,
    source_evidence,
)
from dmarcpilot.store.snapshots import (
    forget_snapshots,
    load_digest,
    load_latest_snapshot,
    load_latest_with_digest,
    load_snapshot,
    save_digest,
    save_snapshot,
    stored_version,
)

__all__ = ["AnalysedSource", "Digest", "analyse", "clear_cache", "digest", "flush_saves", "is_current", "senders",
           "source"]

log = logging.getLogger(__name__)
T = TypeVar("T")


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
    (``analysis.incremental``), after decisions only its sources are
    classified again; anything else is computed from the rollups.
    """
    return list(_analysis(_Window.of(engine, domain, days, ipdb, catalogue, today, bounded)).rows)


def digest(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, catalogue: Catalogue,
           today: date | None = None) -> Digest:
    """``analysis.digest`` of the window ``analyse`` would return: sums and the largest few, not every source.

    Read from the store when another process has analysed the same data
    (a few kilobytes); otherwise derived from ``analyse`` and kept beside it.
    """
    window = _Window.of(engine, domain, days, ipdb, catalogue, today, False)
    with _LOCK:
        cached = _CACHE.get(window.key)
        found = cached.digest if cached is not None else _DIGESTS.get(window.key)
    if found is not None:
        return found
    payload = load_digest(engine, domain, window.name, window.version)
    found = Digest.from_bytes(payload) if payload is not None else None
    if found is None:
        with gc_paused():
            found = _advanced_digest(window)
    if found is not None:
        _remember(_DIGESTS, window.key, found)
        return found
    analysis = _analysis(window)
    if not analysis.saving:  # read from a snapshot written without its digest: add it
        made = analysis.digest
        _submit(lambda: save_digest(engine, domain, window.name, window.version, made.to_bytes()))
    return analysis.digest


def source(engine: sa.Engine, domain: str, days: int, ip: str, ipdb: IpDatabase, catalogue: Catalogue,
           today: date | None = None) -> AnalysedSource | None:
    """One source of the window ``analyse`` would return (None: it sent no mail as ``domain`` then).

    When another process kept the analysis, only this source is turned back into an object.
    """
    window = _Window.of(engine, domain, days, ipdb, catalogue, today, False)
    with _LOCK:
        cached = _CACHE.get(window.key)
    if cached is None:
        payload = load_snapshot(engine, domain, window.name, window.version)
        raw = parse(payload) if payload is not None else None
        if raw is not None and ip not in raw.items:
            return None
        found = raw.row(ip, catalogue) if raw is not None else None
        if found is not None:
            return found
        cached = _analysis(window)
    return next((r for r in cached.rows if r.evidence.ip == ip), None)


@dataclass(frozen=True)
class _Window:
    """Which analysis a caller asks for: its window, and the version of the data it is of."""

    engine: sa.Engine
    domain: str
    days: int
    since: date
    until: date | None
    name: str
    current: tuple[Any, ...]
    basis: list[str]
    version: str
    ipdb: IpDatabase
    catalogue: Catalogue
    today: date | None
    bounded: bool

    @classmethod
    def of(cls, engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, catalogue: Catalogue,
           today: date | None, bounded: bool) -> _Window:
        since = window_start(days, today)
        until = since + timedelta(days=days) if bounded else None
        current = tuple(data_version(engine, domain))
        basis = snapshot_basis(current, catalogue, ipdb)
        return cls(engine, domain, days, since, until, window_name(days, since, until), current, basis,
                   snapshot_version(basis), ipdb, catalogue, today, bounded)

    @property
    def key(self) -> tuple[Any, ...]:
        return (str(self.engine.url), self.domain, self.name, self.version)


class _Analysis:
    """One window's analysed sources and their digest, made once."""

    __slots__ = ("_digest", "rows", "saving")

    def __init__(self, rows: tuple[AnalysedSource, ...], saving: bool = False) -> None:
        self.rows = rows
        self._digest: Digest | None = None
        self.saving = saving  # computed here, and on its way to the store with its digest

    @property
    def digest(self) -> Digest:
        if self._digest is None:  # two threads may both compute it: the same value
            with gc_paused():
                self._digest = digest_of(self.rows)
        return self._digest


def _analysis(w: _Window) -> _Analysis:
    with _LOCK:
        cached = _CACHE.get(w.key)
    if cached is not None:
        return cached
    engine, domain, catalogue = w.engine, w.domain, w.catalogue
    with gc_paused():
        payload = load_snapshot(engine, domain, w.name, w.version)
        rows = decode(payload, catalogue) if payload is not None else None
        if rows is not None:
            analysis = _Analysis(tuple(rows))
        else:
            advanced = _advanced(engine, domain, w.name, w.basis, w.since, w.until, w.ipdb, catalogue)
            if advanced is not None:
                rows, previous, changed = advanced
                analysis = _Analysis(tuple(rows), saving=True)
                encoded = functools.partial(encode, rows, w.basis, previous, changed)
            else:
                rows = _analyse(engine, domain, w.days, w.ipdb, catalogue, w.today, w.bounded)
                analysis = _Analysis(tuple(rows), saving=True)
                # reports that arrived while computing may be in the rows: then they are of no exact basis
                exact = tuple(data_version(engine, domain)) == w.current
                encoded = functools.partial(encode, rows, w.basis if exact else None)
            _submit(lambda: save_snapshot(engine, domain, w.name, w.version, encoded(), analysis.digest.to_bytes()))
    _remember(_CACHE, w.key, analysis)
    return analysis


def _remember(cache: dict[tuple[Any, ...], T], key: tuple[Any, ...], value: T) -> None:
    with _LOCK:
        while len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[key] = value


def _advanced(engine: sa.Engine, domain: str, window: str, basis: list[str], since: date, until: date | None,
              ipdb: IpDatabase, catalogue: Catalogue) -> tuple[list[AnalysedSource], Decoded, set[str]] | None:
    """The window's last kept analysis brought up to date, when that is exact.

    After new reports only, their records are folded in (``analysis.incremental``); after decisions
    only (the domain's audit log moved, nothing else), every source is classified again: attribution
    does not depend on decisions.
    """
    payload = load_latest_snapshot(engine, domain, window)
    previous = read(payload, catalogue) if payload is not None else None
    if previous is None or previous.basis is None:
        return None
    found = advance(engine, domain, previous.rows, previous.basis, basis, since, until,
                    _attributor(engine, domain, ipdb, catalogue))
    if found is None and _only_decisions(previous.basis, basis):
        judged = _judged_again(previous, _judge(engine, domain), catalogue)
        if judged is not None:
            by_ip = {row.evidence.ip: row for row in judged}
            found = [by_ip.get(row.evidence.ip, row) for row in previous.rows], set(by_ip)
    return None if found is None else (found[0], previous, found[1])


def _only_decisions(old: Sequence[str], new: Sequence[str]) -> bool:
    """Whether two bases differ in the domain's audit log alone (``store.queries.data_version``'s third part)."""
    return len(old) == len(new) and old[:2] == new[:2] and old[3:] == new[3:]


def _advanced_digest(w: _Window) -> Digest | None:
    """The window's last kept digest brought up to date, when that is exact.

    After new reports only, the sources they touch are folded, attributed and classified again; after
    decisions only, the sources whose class or status changes. Only those are turned into objects; the
    stored analysis gets them too, in the background.
    """
    engine, domain, catalogue = w.engine, w.domain, w.catalogue
    found = load_latest_with_digest(engine, domain, w.name)
    if found is None or found[1] is None:
        return None
    raw, before = parse(found[0]), Digest.from_bytes(found[1])
    if raw is None or raw.basis is None or before is None:
        return None
    inside = reports_to_fold(engine, domain, raw.basis, w.basis, w.since, w.until)
    if inside is not None:
        touched = fold_records(domain, records_of(engine, inside), raw.evidence) if inside else {}
        new = _attributor(engine, domain, w.ipdb, catalogue)(list(touched.values())) if touched else []
    elif _only_decisions(raw.basis, w.basis):
        judged = _judged_again(raw, _judge(engine, domain), catalogue)
        if judged is None:
            return None
        new = judged
    else:
        return None
    old = {}
    for row in new:
        if row.evidence.ip in raw.items:
            kept = raw.row(row.evidence.ip, catalogue)
            if kept is None:
                return None  # a service this catalogue does not know
            old[row.evidence.ip] = kept
    after = updated(before, old, new, catalogue)
    if after is not None:
        _submit(lambda: save_snapshot(engine, domain, w.name, w.version, encode_update(raw, new, w.basis),
                                      after.to_bytes()))
    return after


def _judged_again(raw: Raw, judge: Callable[[SourceEvidence, Attribution], tuple[SenderClass, str]],
                  catalogue: Catalogue) -> list[AnalysedSource] | None:
    """The kept sources whose class or status the decisions change, as they are now (read from the items).

    None when an item names a service this catalogue does not know.
    """
    services: dict[int, Attribution] = {}
    changed = []
    for ip, item in raw.items.items():
        attribution = services.get(item[14])
        if attribution is None:  # classify looks at the service alone
            name = raw.texts[item[14]]
            service = catalogue.services.get(name) if isinstance(name, str) else None
            if service is None and name is not None:
                return None
            attribution = services[item[14]] = Attribution(service, None, (), "")
        sender_class, status = judge(raw.evidence(ip) or SourceEvidence(ip), attribution)
        if sender_class.value != raw.texts[item[18]] or status != raw.texts[item[19]]:
            changed.append((ip, sender_class, status))
    out = []
    for ip, sender_class, status in changed:
        row = raw.row(ip, catalogue)
        if row is None:
            return None
        out.append(dataclasses.replace(row, sender_class=sender_class, status=status))
    return out


def _submit(job: Callable[[], None]) -> None:
    """Share an analysis with every process, after the caller has its answer (``flush_saves`` waits).

    Best effort: a store that refuses (read-only, busy) only costs the next process some speed.
    """
    future = _SAVER.submit(_write, job)
    with _LOCK:
        _PENDING[:] = [f for f in _PENDING if not f.done()]
        _PENDING.append(future)


def _write(job: Callable[[], None]) -> None:
    # one interpreter lock: encoding now would slow the caller's own answer (a page still rendering),
    # so give it a moment first, unless someone is waiting for the save
    _HURRY.wait(SAVE_DELAY)
    try:
        job()
    except Exception as exc:  # a cache that could not be written is logged, never fatal
        log.warning("analysis not kept in the store: %s", exc)


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
    window = _Window.of(engine, domain, days, ipdb, catalogue, today, False)
    return stored_version(engine, domain, window.name) == window.version


_CACHE: dict[tuple[Any, ...], _Analysis] = {}
_DIGESTS: dict[tuple[Any, ...], Digest] = {}  # read from the store, without the sources
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
        _DIGESTS.clear()
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
    judge = _judge(engine, domain)
    ranges = VendorRanges(catalogue, include_networks(engine))

    def attribute_all(sources: list[SourceEvidence]) -> list[AnalysedSource]:
        names = reverse_names(engine, [ev.ip for ev in sources])
        out = []
        for ev in sources:
            info = ipdb.lookup(ev.ip)
            ptr, confirmed = names.get(ev.ip, (None, False))
            attribution = attribute(ev, info, ptr, confirmed, catalogue, ranges)
            out.append(AnalysedSource(ev, info, ptr, confirmed, attribution, *judge(ev, attribution)))
        return out

    return attribute_all


def _judge(engine: sa.Engine, domain: str) -> Callable[[SourceEvidence, Attribution], tuple[SenderClass, str]]:
    """A source's class and status under the domain's decisions and approved networks (read once)."""
    service_decisions, network_texts = decisions(engine, domain)
    networks = NetworkSet(ipaddress.ip_network(n) for n in network_texts)

    def judge(ev: SourceEvidence, attribution: Attribution) -> tuple[SenderClass, str]:
        by_network = bool(networks) and ev.ip in networks
        decision = service_decisions.get(attribution.service.id) if attribution.service else None
        status = "approved" if by_network else (decision or "pending")
        return classify(ev, attribution, decision, by_network), status

    return judge
