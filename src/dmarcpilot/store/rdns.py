"""The reverse-DNS cache: which addresses need a lookup, and the answers kept."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from dmarcpilot.enrich.rdns import PtrResult, PtrStatus
from dmarcpilot.store.dialect import upsert_insert
from dmarcpilot.store.schema import aggregate_records, rdns_cache

#: How long an answer is kept: names a week, "no name" a day, failures an hour.
TTL = {
    PtrStatus.OK: timedelta(days=7),
    PtrStatus.NXDOMAIN: timedelta(days=1),
    PtrStatus.NODATA: timedelta(days=1),
    PtrStatus.TIMEOUT: timedelta(hours=1),
    PtrStatus.SERVFAIL: timedelta(hours=1),
}


def addresses_to_look_up(engine: sa.Engine, now: datetime, limit: int) -> list[str]:
    """Source addresses of stored reports without a fresh cache entry."""
    c = rdns_cache
    query = (
        sa.select(aggregate_records.c.source_ip)
        .distinct()
        .outerjoin(c, c.c.ip == aggregate_records.c.source_ip)
        .where(sa.or_(c.c.ip.is_(None), c.c.expires_at <= now))
        .order_by(aggregate_records.c.source_ip)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]


def save(engine: sa.Engine, results: Sequence[PtrResult], now: datetime) -> None:
    """Upsert answers (concurrent runs converge on the same rows)."""
    if not results:
        return
    rows = [
        {"ip": str(r.ip), "status": r.status.value, "name": r.name, "confirmed": r.confirmed,
         "checked_at": now, "expires_at": now + TTL[r.status]}
        for r in results
    ]
    with engine.begin() as conn:
        stmt = upsert_insert(conn, rdns_cache)
        stmt = stmt.on_conflict_do_update(
            index_elements=[rdns_cache.c.ip],
            set_={k: stmt.excluded[k] for k in ("status", "name", "confirmed", "checked_at", "expires_at")},
        )
        conn.execute(stmt, rows)
