"""The JSON API: the twin of every page, and the actions (session + X-CSRF-Token, or a Bearer API token)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from pydantic import BaseModel, Field

from dmarcpilot.policy.enforcement import DEFAULT_DAYS
from dmarcpilot.web import actions, reportviews, views
from dmarcpilot.web.errors import WebError
from dmarcpilot.web.security import Principal, api_user, check_csrf
from dmarcpilot.web.views import WebState

router = APIRouter(prefix="/api", tags=["api"])
User = Annotated[Principal, Depends(api_user)]
Days = Annotated[int, Query(ge=1, le=3660, description="Window in days, ending today (UTC).")]
Json = dict[str, Any]


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


class DecisionIn(BaseModel):
    subject: str = Field(description="A catalogue service id (microsoft-365) or a network (192.0.2.0/24).")
    decision: Literal["approved", "rejected"]
    reason: str = Field(description="Why (at least 3 characters; kept in the audit log).")


class AdvanceIn(BaseModel):
    reason: str = ""
    force: bool = Field(False, description="Move past the gates (recorded as forced; needs a reason).")
    days: int = Field(DEFAULT_DAYS, ge=1, le=3660)


class RollbackIn(BaseModel):
    reason: str
    to: str | None = Field(None, description="Go straight to this stage (default: one back).")


@router.get("/me", summary="Who is asking, and the CSRF token of the session")
def me(principal: User) -> Json:
    return {**principal.user.to_dict(), "csrf_token": principal.csrf_token}


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, principal: User) -> Json:
    schema: Json = request.app.openapi()
    return schema


@router.get("/domains", summary="Domains overview: stage, pass rate, volume, 30-day series")
def overview(request: Request, principal: User, days: Days = 30) -> Json:
    return views.overview(_state(request), principal.user, days)


@router.get("/domains/{domain}", summary="A domain: over time, countries, services, unknown groups, forwarders")
def domain(request: Request, principal: User, domain: str, days: Days = 30) -> Json:
    return views.domain_view(_state(request), principal.domain(domain), days)


@router.get("/domains/{domain}/sources/{ip}", summary="One source address: attribution, evidence and records")
def source(request: Request, principal: User, domain: str, ip: str, days: Days = 30) -> Json:
    return views.source_view(_state(request), principal.domain(domain), ip, days)


@router.get("/domains/{domain}/records", summary="What to publish, lookup counts and the proof")
def records(request: Request, principal: User, domain: str) -> Json:
    return views.records_view(_state(request), principal.domain(domain))


@router.get("/domains/{domain}/records/drift", summary="The own-DNS records against the live DNS (asks DNS)")
def drift(request: Request, principal: User, domain: str) -> Json:
    return views.drift_view(_state(request), principal.domain(domain))


@router.get("/domains/{domain}/plan", summary="Readiness, blockers with fixes, what-if, timeline")
def plan(request: Request, principal: User, domain: str, days: Days = DEFAULT_DAYS) -> Json:
    return views.plan_view(_state(request), principal.domain(domain), days)


@router.get("/domains/{domain}/audit", summary="Approval decisions and stage changes, newest first")
def audit(request: Request, principal: User, domain: str) -> Json:
    return views.audit_view(_state(request), principal.domain(domain))


@router.post("/domains/{domain}/decisions", summary="Approve or reject a service or network (admin)")
def decide(request: Request, principal: User, domain: str, body: DecisionIn) -> Json:
    name = principal.domain(domain)
    check_csrf(request, principal, None)
    return actions.decide_action(_state(request), principal, name, body.subject, body.decision, body.reason)


@router.post("/domains/{domain}/advance", summary="Move one stage towards reject, through the gates (admin)")
def advance(request: Request, principal: User, domain: str, body: AdvanceIn) -> Json:
    name = principal.domain(domain)
    check_csrf(request, principal, None)
    return actions.advance_action(_state(request), principal, name, body.reason, body.force, body.days)


@router.post("/domains/{domain}/rollback", summary="Move back one stage, or to a given one (admin)")
def rollback(request: Request, principal: User, domain: str, body: RollbackIn) -> Json:
    name = principal.domain(domain)
    check_csrf(request, principal, None)
    return actions.rollback_action(_state(request), principal, name, body.reason, body.to)


@router.get("/reports", summary="Stored reports, newest first")
def reports(request: Request, principal: User, domain: str | None = None) -> Json:
    name = principal.domain(domain) if domain else None
    return reportviews.reports_view(_state(request), principal.user, name)


@router.post("/reports", summary="Upload a report file (admin of every domain)")
def upload(request: Request, principal: User, report: Annotated[UploadFile | None, File()] = None) -> Json:
    check_csrf(request, principal, None)
    if report is None:
        raise WebError("send the report as the multipart field 'report'")
    return actions.upload_action(_state(request), principal, report.filename or "upload", report.file)


@router.get("/reports/{kind}/{report_id}", summary="One stored report with its fields and raw source")
def report(request: Request, principal: User, kind: str, report_id: int) -> Json:
    return reportviews.report_view(_state(request), principal.user, reportviews.parse_kind(kind), report_id)


@router.get("/quarantine", summary="Inputs that could not be used (admin of every domain)")
def quarantine(request: Request, principal: User) -> Json:
    principal.require_global_admin()
    return reportviews.quarantine_view(_state(request))
