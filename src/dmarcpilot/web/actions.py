"""What people change from the browser or a script: decisions, stage moves, uploads (admins only)."""

from __future__ import annotations

from typing import IO, Any

from dmarcpilot.policy.approvals import Decision, Subject, check_reason
from dmarcpilot.policy.enforcement import DEFAULT_DAYS, advance, rollback
from dmarcpilot.policy.stages import Stage
from dmarcpilot.store.approvals import decide
from dmarcpilot.web.errors import WebError
from dmarcpilot.web.reportviews import ingest_upload
from dmarcpilot.web.security import Principal
from dmarcpilot.web.views import WebState


def decide_action(state: WebState, principal: Principal, domain: str, subject: str, decision: str,
                  reason: str) -> dict[str, Any]:
    """Approve or reject a service (catalogue id) or a network (CIDR); a reason is required and audited."""
    principal.require_admin()
    try:
        chosen = Decision(decision)
    except ValueError:
        raise WebError(f"decision must be approved or rejected, not {decision!r}") from None
    approval = decide(state.engine, domain, Subject.from_text(subject), chosen, principal.user.username,
                      check_reason(reason))
    return approval.to_dict()


def advance_action(state: WebState, principal: Principal, domain: str, reason: str, force: bool,
                   days: int = DEFAULT_DAYS) -> dict[str, Any]:
    principal.require_admin()
    reason = check_reason(reason) if force or reason.strip() else "gates passed"
    change = advance(state.engine, domain, principal.user.username, reason, state.ipdb, state.catalogue, force,
                     days)
    return change.to_dict()


def rollback_action(state: WebState, principal: Principal, domain: str, reason: str,
                    to: str | None) -> dict[str, Any]:
    principal.require_admin()
    try:
        target = Stage(to) if to else None
    except ValueError:
        raise WebError(f"no stage {to!r}") from None
    return rollback(state.engine, domain, principal.user.username, check_reason(reason), target).to_dict()


def upload_action(state: WebState, principal: Principal, filename: str, stream: IO[bytes]) -> dict[str, Any]:
    principal.require_global_admin()
    return ingest_upload(state, principal.user, filename, stream)
