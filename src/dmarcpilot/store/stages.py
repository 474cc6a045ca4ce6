"""The stage history of each domain (append-only) and the alerts already sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.policy.stages import Stage, StageChange, StageError
from dmarcpilot.store.dialect import upsert_insert
from dmarcpilot.store.schema import alerts_sent, policy_stages


def _change(row: Any) -> StageChange:
    return StageChange(row.domain, Stage(row.stage), Stage(row.previous), row.actor, row.reason, row.at,
                       row.forced, dict(row.figures or {}))


def stage_history(engine: sa.Engine, domain: str) -> list[StageChange]:
    t = policy_stages.c
    with engine.connect() as conn:
        return [_change(r) for r in conn.execute(sa.select(policy_stages).where(t.domain == domain).order_by(t.id))]


def current_stage(engine: sa.Engine, domain: str) -> Stage:
    """The latest stage recorded for the domain; ``none`` (monitoring) before any change."""
    t = policy_stages.c
    with engine.connect() as conn:
        stage = conn.execute(sa.select(t.stage).where(t.domain == domain).order_by(t.id.desc()).limit(1)).scalar()
    return Stage(stage) if stage else Stage.NONE


def record_change(engine: sa.Engine, domain: str, expected: Stage, target: Stage, actor: str, reason: str,
                  forced: bool, figures: dict[str, Any]) -> StageChange:
    """Append a move from ``expected`` to ``target``; refused if another process moved the domain meanwhile.

    SQLite takes the write lock up front; PostgreSQL serialises movers of a
    domain with a transaction-level advisory lock on its name.
    """
    now = datetime.now(UTC)
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:d))"), {"d": "stage:" + domain})
        t = policy_stages.c
        latest = conn.execute(sa.select(t.stage).where(t.domain == domain).order_by(t.id.desc()).limit(1)).scalar()
        if Stage(latest or Stage.NONE.value) is not expected:
            raise StageError(f"{domain} moved to {latest} meanwhile; look again before moving it")
        conn.execute(policy_stages.insert().values(
            domain=domain, stage=target.value, previous=expected.value, actor=actor, reason=reason, forced=forced,
            figures=figures, at=now))
    return StageChange(domain, target, expected, actor, reason, now, forced, figures)


def claim_alert(engine: sa.Engine, domain: str, key: str, kind: str, message: str, quiet: timedelta,
                now: datetime | None = None) -> bool:
    """True when the alert should go out: never sent, or its quiet period is over. Safe under concurrency.

    One upsert per alert: the row's ``last_at`` moves only when the quiet
    period is over, and the caller sends only if it was the one that moved it.
    """
    now = now or datetime.now(UTC)
    t = alerts_sent.c
    with engine.begin() as conn:
        stmt = upsert_insert(conn, alerts_sent).values(domain=domain, key=key, kind=kind, message=message,
                                                       first_at=now, last_at=now, count=1)
        due = t.last_at <= now - quiet
        stmt = stmt.on_conflict_do_update(
            index_elements=[t.domain, t.key],
            set_={"last_at": sa.case((due, now), else_=t.last_at), "count": t.count + 1,
                  "message": sa.case((due, stmt.excluded.message), else_=t.message)},
        ).returning(t.last_at)
        last = conn.execute(stmt).scalar_one()
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    return bool(last == now)


def release_alert(engine: sa.Engine, domain: str, key: str, quiet: timedelta, claimed_at: datetime) -> None:
    """Undo a claim whose delivery failed: the alert is due again at the next run."""
    t = alerts_sent.c
    with engine.begin() as conn:
        conn.execute(alerts_sent.update().where(t.domain == domain, t.key == key, t.last_at == claimed_at)
                     .values(last_at=claimed_at - quiet - timedelta(seconds=1)))
