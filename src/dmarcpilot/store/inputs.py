"""Inputs and the quarantine: what arrived, what became of it, what failed."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from dmarcpilot.bytestream import Opener
from dmarcpilot.store.archive import BlobRef, store_blob
from dmarcpilot.store.dialect import insert_ignore
from dmarcpilot.store.schema import inputs, quarantine


class InputStatus(enum.Enum):
    PENDING = "pending"  # archived, reports not all stored yet (or a crash)
    DONE = "done"  # every report stored, every bad part quarantined


@dataclass(frozen=True, slots=True)
class InputState:
    status: InputStatus
    reports: int
    rejected: tuple[tuple[str, str], ...]  # (part, reason) still in quarantine


def register_input(engine: sa.Engine, ref: BlobRef, opener: Opener, origin: str) -> InputState | None:
    """Archive an input; returns its earlier state when it was fully processed before."""
    with engine.begin() as conn:
        store_blob(conn, ref, opener)
        conn.execute(
            insert_ignore(conn, inputs).values(
                sha256=ref.sha256, origin=origin, received_at=datetime.now(UTC),
                status=InputStatus.PENDING.value,
            )
        )
        row = conn.execute(
            sa.select(inputs.c.status, inputs.c.reports).where(inputs.c.sha256 == ref.sha256)
        ).one()
        if row.status != InputStatus.DONE.value:
            return None
        return InputState(InputStatus.DONE, row.reports, _open_rejections(conn, ref.sha256))


def _open_rejections(conn: sa.Connection, sha256: str) -> tuple[tuple[str, str], ...]:
    rows = conn.execute(
        sa.select(quarantine.c.part, quarantine.c.reason)
        .where(quarantine.c.sha256 == sha256, quarantine.c.resolved_at.is_(None))
        .order_by(quarantine.c.id)
    )
    return tuple((r.part, r.reason) for r in rows)


def finish_input(
    engine: sa.Engine, sha256: str, origin: str, reports: int, rejected: Sequence[tuple[str, str]]
) -> None:
    """Record the outcome: earlier quarantine entries are resolved, new ones added."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            quarantine.update()
            .where(quarantine.c.sha256 == sha256, quarantine.c.resolved_at.is_(None))
            .values(resolved_at=now)
        )
        if rejected:
            conn.execute(
                quarantine.insert(),
                [{"sha256": sha256, "origin": origin, "part": part, "reason": reason, "created_at": now}
                 for part, reason in rejected],
            )
        conn.execute(
            inputs.update()
            .where(inputs.c.sha256 == sha256)
            .values(status=InputStatus.DONE.value, reports=reports, rejected=len(rejected), finished_at=now)
        )


def quarantined_inputs(engine: sa.Engine) -> list[tuple[str, str]]:
    """(sha256, origin) of every input with an unresolved quarantine entry."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(quarantine.c.sha256, sa.func.min(quarantine.c.origin).label("origin"))
            .where(quarantine.c.resolved_at.is_(None))
            .group_by(quarantine.c.sha256)
            .order_by(sa.func.min(quarantine.c.id))
        )
        return [(r.sha256, r.origin) for r in rows]


def pending_inputs(engine: sa.Engine) -> list[tuple[str, str]]:
    """(sha256, origin) of inputs archived but not finished (a crash)."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(inputs.c.sha256, inputs.c.origin)
            .where(inputs.c.status == InputStatus.PENDING.value)
            .order_by(inputs.c.id)
        )
        return [(r.sha256, r.origin) for r in rows]
