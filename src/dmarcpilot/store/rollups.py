"""Daily rollups: maintained in each report's transaction, exact under re-ingest.

A report's records are added to ``daily_source_stats`` by one
INSERT ... SELECT ... GROUP BY in the transaction that stores them: a
duplicate report never reaches it, and a crash loses both or neither.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dmarcpilot.store.dialect import upsert_insert
from dmarcpilot.store.schema import aggregate_records, aggregate_reports, daily_source_stats

COUNTERS = ("messages", "dmarc_pass", "dkim_aligned", "spf_aligned", "quarantined", "rejected")


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
    """Add one stored report's records to the rollup (same transaction).

    The report's domain and day are constants here: one scan of its records,
    grouped by address, with no join.
    """
    r = aggregate_records.c
    day = begin.astimezone(UTC).date()
    select = (
        sa.select(sa.literal(domain, sa.Text), sa.literal(day, sa.Date), r.source_ip, *_counters())
        .where(r.report_pk == report_pk)
        .group_by(r.source_ip)
    )
    _upsert(conn, select)


def rebuild(conn: sa.Connection) -> None:
    """Recompute the rollup from every stored record (migrations, repair)."""
    conn.execute(daily_source_stats.delete())
    r = aggregate_records.c
    select = (
        sa.select(aggregate_reports.c.domain, _day(conn).label("day"), r.source_ip, *_counters())
        .join(aggregate_reports, aggregate_reports.c.id == r.report_pk)
        .group_by(aggregate_reports.c.domain, sa.literal_column("day"), r.source_ip)
    )
    _upsert(conn, select)


def _upsert(conn: sa.Connection, select: sa.Select[Any]) -> None:
    columns = ["domain", "day", "source_ip", *COUNTERS]
    stmt = upsert_insert(conn, daily_source_stats).from_select(columns, select)
    t = daily_source_stats.c
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.domain, t.day, t.source_ip],
        set_={name: t[name] + stmt.excluded[name] for name in COUNTERS},
    )
    conn.execute(stmt)
