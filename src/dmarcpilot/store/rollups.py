"""Rollups per day and per month: maintained in each report's transaction, exact under re-ingest.

A report's records are added to ``daily_source_stats`` by one
INSERT ... SELECT ... GROUP BY in the transaction that stores them: a
duplicate report never reaches it, and a crash loses both or neither.
``daily_source_evidence`` holds what identification needs from the records
(passing DKIM domains, envelope domains with their SPF passes), collected
while the records stream past and written in the same transaction; so
``senders`` and ``sources`` never read the raw records.

``daily_domain_stats`` sums the same counters per domain and day, for
time series (a year is 365 rows, not every source's day).

Each rollup has a monthly twin (``monthly_source_*``), written from the same
report in the same transaction: a year's window reads eleven whole months
there and only its partial first month from the daily tables.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from dmarcpilot.reports.model import DkimResult, Record, SpfResult
from dmarcpilot.store.dialect import bulk_add, upsert_insert
from dmarcpilot.store.schema import (
    aggregate_records,
    aggregate_reports,
    daily_domain_stats,
    daily_source_evidence,
    daily_source_stats,
    monthly_source_evidence,
    monthly_source_stats,
)

COUNTERS = ("messages", "dmarc_pass", "dkim_aligned", "spf_aligned", "quarantined", "rejected")


def month_start(day: date) -> date:
    return day.replace(day=1)


@dataclass(frozen=True, slots=True)
class Tier:
    """One granularity of the rollups: its two tables, period column and period start."""

    stats: sa.Table
    evidence: sa.Table
    period: str
    start: Callable[[date], date]


DAILY = Tier(daily_source_stats, daily_source_evidence, "day", lambda day: day)
MONTHLY = Tier(monthly_source_stats, monthly_source_evidence, "month", month_start)
TIERS = (DAILY, MONTHLY)


def _day(conn: sa.Connection) -> Any:
    """The UTC day of a report's begin, as the backend computes dates."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", aggregate_reports.c.begin_at), sa.Date)
    return sa.func.date(aggregate_reports.c.begin_at)  # SQLite keeps naive UTC text


def _counters() -> list[Any]:
    r = aggregate_records.c

    def when(condition: Any) -> Any:
        return sa.func.sum(sa.case((condition, r.count), else_=0))

    return [
        sa.func.sum(r.count), when(sa.or_(r.dkim == "pass", r.spf == "pass")), when(r.dkim == "pass"),
        when(r.spf == "pass"), when(r.disposition == "quarantine"), when(r.disposition == "reject"),
    ]


def add_report(conn: sa.Connection, report_pk: int, domain: str, begin: datetime) -> None:
    """Add one stored report's records to the rollups (same transaction).

    The report's domain and day are constants here: one scan of its records,
    grouped by address, with no join. The statements are built once.
    """
    day = begin.astimezone(UTC).date()
    for tier in TIERS:
        conn.execute(_add_report_statement(conn.dialect.name, tier.period),
                     {"domain": domain, "period": tier.start(day), "pk": report_pk})
    conn.execute(_add_domain_day_statement(conn.dialect.name), {"domain": domain, "period": day, "pk": report_pk})


@functools.cache
def _add_report_statement(dialect: str, period: str) -> Any:
    tier = next(t for t in TIERS if t.period == period)
    r = aggregate_records.c

    select = (
        sa.select(_param(dialect, "domain", sa.Text), _param(dialect, "period", sa.Date), r.source_ip, *_counters())
        .where(r.report_pk == sa.bindparam("pk"))
        .group_by(r.source_ip)
    )
    return _upsert_statement(dialect, tier, select)


@functools.cache
def _add_domain_day_statement(dialect: str) -> Any:
    """The report's records summed into its domain's day (one row per report, no grouping by source)."""
    r = aggregate_records.c
    select = sa.select(_param(dialect, "domain", sa.Text), _param(dialect, "period", sa.Date), *_counters()).where(
        r.report_pk == sa.bindparam("pk"))
    return _adding_upsert(dialect, daily_domain_stats, ("domain", "day"), select)


def _param(dialect: str, name: str, type_: Any) -> Any:
    # PostgreSQL needs the type of a parameter in a SELECT list; SQLite's CAST AS DATE would make it a number
    value = sa.bindparam(name, type_=type_)
    return sa.cast(value, type_) if dialect == "postgresql" else value


def rebuild(conn: sa.Connection) -> None:
    """Recompute every rollup from every stored record (migrations, repair)."""
    rebuild_stats(conn)
    rebuild_evidence(conn)
    rebuild_monthly(conn)
    rebuild_domain_days(conn)


def rebuild_domain_days(conn: sa.Connection) -> None:
    """The per-domain daily totals as the sum of the per-source daily counters."""
    conn.execute(daily_domain_stats.delete())
    d = daily_source_stats.c
    select = sa.select(d.domain, d.day, *(sa.func.sum(d[n]) for n in COUNTERS)).group_by(d.domain, d.day)
    conn.execute(daily_domain_stats.insert().from_select(["domain", "day", *COUNTERS], select))


def rebuild_stats(conn: sa.Connection) -> None:
    """The daily counters from the records (the monthly tier follows with ``rebuild_monthly``)."""
    conn.execute(daily_source_stats.delete())
    r = aggregate_records.c
    select = (
        sa.select(aggregate_reports.c.domain, _day(conn).label("day"), r.source_ip, *_counters())
        .join(aggregate_reports, aggregate_reports.c.id == r.report_pk)
        .group_by(aggregate_reports.c.domain, sa.literal_column("day"), r.source_ip)
    )
    conn.execute(_upsert_statement(conn.dialect.name, DAILY, select))


def rebuild_monthly(conn: sa.Connection) -> None:
    """The monthly tier as the sum of the daily one."""
    for daily, monthly, keys, sums in (
        (daily_source_stats, monthly_source_stats, ("source_ip",), COUNTERS),
        (daily_source_evidence, monthly_source_evidence, ("source_ip", "kind", "value"), ("messages", "passed")),
    ):
        conn.execute(monthly.delete())
        month = _month(conn, daily.c.day).label("month")
        select = (
            sa.select(daily.c.domain, month, *(daily.c[k] for k in keys), *(sa.func.sum(daily.c[n]) for n in sums))
            .group_by(daily.c.domain, month, *(daily.c[k] for k in keys))
        )
        conn.execute(monthly.insert().from_select(["domain", "month", *keys, *sums], select))


def _month(conn: sa.Connection, day: Any) -> Any:
    """The first day of ``day``'s month, as the backend computes dates."""
    if conn.dialect.name == "postgresql":
        return sa.cast(sa.func.date_trunc("month", day), sa.Date)
    return sa.func.date(day, "start of month")


def _upsert_statement(dialect: str, tier: Tier, select: sa.Select[Any]) -> Any:
    """INSERT ... SELECT into the tier's counters, adding to existing rows."""
    return _adding_upsert(dialect, tier.stats, ("domain", tier.period, "source_ip"), select)


def _adding_upsert(dialect: str, table: sa.Table, keys: tuple[str, ...], select: sa.Select[Any]) -> Any:
    """INSERT ... SELECT of (keys..., COUNTERS...) into ``table``, adding the counters to an existing row's."""
    stmt = upsert_insert(dialect, table).from_select([*keys, *COUNTERS], select)
    return stmt.on_conflict_do_update(index_elements=[table.c[k] for k in keys],
                                      set_={name: table.c[name] + stmt.excluded[name] for name in COUNTERS})


EvidenceKey = tuple[str, str, str]  # source ip, kind ("dkim" | "envelope"), domain


class EvidenceCollector:
    """Identification evidence of one report, per source: fed record by record.

    A passing DKIM result counts for its signing domain; every SPF result's
    domain and the envelope sender count as envelope domains, SPF passes as
    ``passed`` (read back by ``analysis.identify.SourceEvidence.add_evidence``).
    The report's own domain and its subdomains are left out: they are never
    a service's evidence (the catalogue holds vendors' domains only), and
    they are most of the rows.
    """

    __slots__ = ("_own", "_suffix", "counts")

    def __init__(self, domain: str) -> None:
        self.counts: dict[EvidenceKey, list[int]] = {}
        self._own = domain.lower()
        self._suffix = "." + self._own

    def _add(self, key: EvidenceKey, messages: int, passed: int) -> None:
        value = key[2]
        if value == self._own or value.endswith(self._suffix):
            return
        entry = self.counts.get(key)
        if entry is None:
            self.counts[key] = [messages, passed]
        else:
            entry[0] += messages
            entry[1] += passed

    def add(self, record: Record) -> None:
        self._fold(str(record.source_ip), record.count, record.envelope_from,
                   (d.domain for d in record.dkim_results if d.result is DkimResult.PASS),
                   ((r.domain, r.result is SpfResult.PASS) for r in record.spf_results))

    def add_raw(self, ip: str, count: int, envelope_from: str | None, dkim_results: Iterable[dict[str, Any]],
                spf_results: Iterable[dict[str, Any]]) -> None:
        """The same from stored JSON columns (rebuilds)."""
        self._fold(ip, count, envelope_from,
                   (d.get("domain") for d in dkim_results if d.get("result") == "pass"),
                   ((r.get("domain"), r.get("result") == "pass") for r in spf_results))

    def _fold(self, ip: str, count: int, envelope_from: str | None, dkim_passed: Iterable[str | None],
              spf: Iterable[tuple[str | None, bool]]) -> None:
        """The one rule: passing DKIM domains; SPF domains (with passes) and the envelope sender."""
        for domain in dkim_passed:
            if domain:
                self._add((ip, "dkim", domain.lower()), count, count)
        for domain, passed in spf:
            if domain:
                self._add((ip, "envelope", domain.lower()), count, count if passed else 0)
        if envelope_from:
            self._add((ip, "envelope", envelope_from.lower()), count, 0)

    def write(self, conn: sa.Connection, domain: str, day: date, tiers: tuple[Tier, ...] = TIERS) -> None:
        """Add the collected evidence to the rollups (in the report's transaction)."""
        if not self.counts:
            return
        for tier in tiers:
            rows = [(domain, tier.start(day), ip, kind, value, messages, passed)
                    for (ip, kind, value), (messages, passed) in self.counts.items()]
            bulk_add(conn, tier.evidence, ("domain", tier.period, "source_ip", "kind", "value"),
                     ("messages", "passed"), rows)


def rebuild_evidence(conn: sa.Connection) -> None:
    """Recompute the daily evidence rollup from the stored records, one report at a time."""
    conn.execute(daily_source_evidence.delete())
    a, r = aggregate_reports.c, aggregate_records.c
    reports = conn.execute(sa.select(a.id, a.domain, a.begin_at).order_by(a.id)).all()
    for pk, domain, begin in reports:
        collector = EvidenceCollector(domain)
        query = (sa.select(r.source_ip, r.count, r.envelope_from, r.dkim_results, r.spf_results)
                 .where(r.report_pk == pk))
        for ip, count, envelope_from, dkim_results, spf_results in conn.execute(query):
            collector.add_raw(ip, count, envelope_from, _json(dkim_results), _json(spf_results))
        collector.write(conn, domain, begin.astimezone(UTC).date(), (DAILY,))


def _json(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return list(value or [])
