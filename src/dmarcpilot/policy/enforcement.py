"""Moving a domain along the stages: the plan, advance (only through the gates, or forced and audited), rollback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.figures import rate, window_start
from dmarcpilot.analysis.readiness import DEFAULT_GATES, Gates, Impact, Readiness, readiness, what_if
from dmarcpilot.analysis.senders import analyse
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.policy.stages import Stage, StageChange, StageError, check_move
from dmarcpilot.store.publishing import get_settings
from dmarcpilot.store.queries import daily_totals
from dmarcpilot.store.stages import current_stage, record_change, stage_history

DEFAULT_DAYS = 14


@dataclass(frozen=True)
class Plan:
    readiness: Readiness
    impact: Impact | None  # the next stage's what-if

    def to_dict(self) -> dict[str, Any]:
        return {**self.readiness.to_dict(), "what_if": self.impact.to_dict() if self.impact else None}


def make_plan(engine: sa.Engine, domain: str, ipdb: IpDatabase, catalogue: Catalogue, days: int = DEFAULT_DAYS,
              today: date | None = None, gates: Gates = DEFAULT_GATES) -> Plan:
    stage = current_stage(engine, domain)
    sources = analyse(engine, domain, days, ipdb, catalogue, today)
    ready = readiness(domain, days, stage, sources, gates)
    target = stage.next()
    pct = get_settings(engine, domain).dmarc_pct
    return Plan(ready, what_if(target, sources, pct) if target else None)


def advance(engine: sa.Engine, domain: str, actor: str, reason: str, ipdb: IpDatabase, catalogue: Catalogue,
            force: bool = False, days: int = DEFAULT_DAYS, today: date | None = None,
            gates: Gates = DEFAULT_GATES) -> StageChange:
    """One stage forward when the gates pass; ``force`` overrides them and is recorded as forced."""
    plan = make_plan(engine, domain, ipdb, catalogue, days, today, gates)
    ready = plan.readiness
    if ready.target is None:
        raise StageError(f"{domain} is already at {ready.stage.value}")
    if not ready.ready and not force:
        raise StageError(f"{domain} is not ready for {ready.target.value}: " + "; ".join(ready.blockers))
    if force and not reason.strip():
        raise StageError("a forced move needs a reason")
    figures = {**ready.figures(), "blockers": list(ready.blockers),
               "collateral_damage": plan.impact.collateral if plan.impact else 0}
    return record_change(engine, domain, ready.stage, ready.target, actor, reason, force and not ready.ready,
                         figures)


def rollback(engine: sa.Engine, domain: str, actor: str, reason: str, to: Stage | None = None) -> StageChange:
    """Back one stage (or straight to ``to``, e.g. ``none``): always allowed, always recorded."""
    stage = current_stage(engine, domain)
    target = to or stage.previous()
    if target is None:
        raise StageError(f"{domain} is at {stage.value}: nothing to roll back")
    if target.index > stage.index:
        raise StageError(f"rolling back goes down, not to {target.value}")
    check_move(stage, target)
    return record_change(engine, domain, stage, target, actor, reason, False, {})


@dataclass(frozen=True)
class TimelineDay:
    day: date
    messages: int
    passed: int
    stage: Stage
    changes: tuple[StageChange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "messages": self.messages, "passed": self.passed,
                "pass_rate": rate(self.passed, self.messages), "stage": self.stage.value,
                "changes": [c.to_dict() for c in self.changes]}


def timeline(engine: sa.Engine, domain: str, days: int, today: date | None = None) -> list[TimelineDay]:
    """Pass rate per day, with the stage in force that day and the changes made on it."""
    history = stage_history(engine, domain)
    totals = {day: (m, p) for day, m, p in daily_totals(engine, domain, window_start(days, today))}
    out = []
    start = window_start(days, today)
    for offset in range(days):
        day = date.fromordinal(start.toordinal() + offset)
        changes = tuple(c for c in history if c.at.date() == day)
        in_force = [c for c in history if c.at.date() <= day]
        messages, passed = totals.get(day, (0, 0))
        out.append(TimelineDay(day, messages, passed, in_force[-1].stage if in_force else Stage.NONE, changes))
    return out
