"""Analysis snapshots: one derived row per domain and window, shared by every process.

The payload is opaque here (``analysis.snapshot`` encodes it); a row is used
only when its ``version`` equals the caller's, so a stale or foreign row is
simply rebuilt. Writers race harmlessly: every writer of one version writes
the same analysis, and the last one stays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.store.dialect import upsert_insert
from dmarcpilot.store.schema import analysis_snapshots

#: Rows of other windows not rewritten for this long are dropped when a domain's snapshot is saved.
KEEP = timedelta(days=2)


def stored_version(engine: sa.Engine, domain: str, window: str) -> str | None:
    """The version of the stored snapshot of ``window``, without reading its payload."""
    s = analysis_snapshots.c
    with engine.connect() as conn:
        return conn.execute(sa.select(s.version).where(s.domain == domain, s.window == window)).scalar()


def load_snapshot(engine: sa.Engine, domain: str, window: str, version: str) -> bytes | None:
    """The payload of ``window``'s snapshot if it is of ``version``."""
    return _blob(engine, analysis_snapshots.c.payload, domain, window, version)


def load_digest(engine: sa.Engine, domain: str, window: str, version: str) -> bytes | None:
    """The digest kept beside ``window``'s snapshot if it is of ``version`` (None: none, or not yet)."""
    return _blob(engine, analysis_snapshots.c.digest, domain, window, version)


def load_latest_snapshot(engine: sa.Engine, domain: str, window: str) -> bytes | None:
    """The payload of ``window``'s snapshot, of whatever version (to bring it up to date)."""
    return _blob(engine, analysis_snapshots.c.payload, domain, window, None)


def _blob(engine: sa.Engine, column: sa.Column[Any], domain: str, window: str, version: str | None) -> bytes | None:
    s = analysis_snapshots.c
    query = sa.select(column).where(s.domain == domain, s.window == window)
    if version is not None:
        query = query.where(s.version == version)
    with engine.connect() as conn:
        found = conn.execute(query).scalar()
    return None if found is None else bytes(found)


def load_latest_with_digest(engine: sa.Engine, domain: str, window: str) -> tuple[bytes, bytes | None] | None:
    """The payload of ``window``'s snapshot and its digest, of whatever version (to bring both up to date)."""
    s = analysis_snapshots.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(s.payload, s.digest).where(s.domain == domain, s.window == window)).first()
    return None if row is None else (bytes(row.payload), None if row.digest is None else bytes(row.digest))


def save_snapshot(engine: sa.Engine, domain: str, window: str, version: str, payload: bytes,
                  digest: bytes | None = None, now: datetime | None = None) -> None:
    """Store (or replace) ``window``'s snapshot; forget the domain's windows unused for ``KEEP``."""
    now = now or datetime.now(UTC)
    s = analysis_snapshots
    with engine.begin() as conn:
        insert = upsert_insert(conn, s).values(domain=domain, window=window, version=version, created_at=now,
                                               payload=payload, digest=digest)
        conn.execute(insert.on_conflict_do_update(
            index_elements=[s.c.domain, s.c.window],
            set_={"version": insert.excluded.version, "created_at": insert.excluded.created_at,
                  "payload": insert.excluded.payload, "digest": insert.excluded.digest}))
        conn.execute(sa.delete(s).where(s.c.domain == domain, s.c.window != window, s.c.created_at < now - KEEP))


def save_digest(engine: sa.Engine, domain: str, window: str, version: str, digest: bytes) -> None:
    """Add the digest to ``window``'s snapshot, if that is still of ``version``."""
    s = analysis_snapshots
    with engine.begin() as conn:
        conn.execute(sa.update(s).where(s.c.domain == domain, s.c.window == window, s.c.version == version)
                     .values(digest=digest))


def forget_snapshots(engine: sa.Engine, domain: str | None = None) -> int:
    """Drop the snapshots of ``domain`` (or all): they are rebuilt on next use."""
    s = analysis_snapshots
    with engine.begin() as conn:
        query = sa.delete(s) if domain is None else sa.delete(s).where(s.c.domain == domain)
        return conn.execute(query).rowcount
