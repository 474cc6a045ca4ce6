"""The approvals registry: current decisions, and every change in the audit log."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from dmarcpilot.policy.approvals import Approval, AuditEntry, Decision, Subject, SubjectKind
from dmarcpilot.store.dialect import locked
from dmarcpilot.store.schema import approvals, audit_log

_ACTION = {Decision.APPROVED: "approve", Decision.REJECTED: "reject"}


def decide(engine: sa.Engine, domain: str, subject: Subject, decision: Decision, actor: str,
           reason: str) -> Approval:
    """Record a decision and its audit entry in one transaction.

    The row is locked (PostgreSQL) or the database is (SQLite) while the
    previous decision is read, so concurrent deciders each get an audit entry
    naming the decision they replaced; two first decisions racing on
    PostgreSQL meet at the primary key and the loser retries as an update.
    """
    for attempt in (1, 2):
        try:
            return _decide_once(engine, domain, subject, decision, actor, reason)
        except sa.exc.IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _decide_once(engine: sa.Engine, domain: str, subject: Subject, decision: Decision, actor: str,
                 reason: str) -> Approval:
    now = datetime.now(UTC)
    key = (approvals.c.domain == domain, approvals.c.subject_kind == subject.kind.value,
           approvals.c.subject == subject.value)
    with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
        row = conn.execute(locked(conn, sa.select(approvals.c.decision, approvals.c.reason, approvals.c.actor,
                                                  approvals.c.decided_at).where(*key))).first()
        previous = row.decision if row is not None else None
        if row is not None and (row.decision, row.reason) == (decision.value, reason):
            # the same decision for the same reason again (a re-run script): nothing changes, nothing to audit
            return Approval(domain, subject, decision, row.actor, row.reason, row.decided_at)
        values = {"decision": decision.value, "actor": actor, "reason": reason, "decided_at": now}
        if previous is None:
            conn.execute(approvals.insert().values(
                domain=domain, subject_kind=subject.kind.value, subject=subject.value, **values))
        else:
            conn.execute(approvals.update().where(*key).values(**values))
        conn.execute(audit_log.insert().values(
            at=now, actor=actor, domain=domain, action=_ACTION[decision], subject_kind=subject.kind.value,
            subject=subject.value, reason=reason, previous=previous,
        ))
    return Approval(domain, subject, decision, actor, reason, now)


def list_approvals(engine: sa.Engine, domain: str) -> list[Approval]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(approvals).where(approvals.c.domain == domain)
            .order_by(approvals.c.subject_kind, approvals.c.subject)
        )
        return [Approval(r.domain, Subject(SubjectKind(r.subject_kind), r.subject), Decision(r.decision),
                         r.actor, r.reason, r.decided_at) for r in rows]


def audit_trail(engine: sa.Engine, domain: str) -> list[AuditEntry]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).where(audit_log.c.domain == domain).order_by(audit_log.c.id))
        return [AuditEntry(r.id, r.at, r.actor, r.domain, r.action, Subject(SubjectKind(r.subject_kind), r.subject),
                           r.reason, None if r.previous is None else Decision(r.previous)) for r in rows]
