"""The dashboard's pages (HTML). Each has a JSON twin in ``api``; both call the same view functions."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from dmarcpilot.web import actions, charts, reportviews, views
from dmarcpilot.web.security import Principal, check_csrf, page_user
from dmarcpilot.web.views import WebState

router = APIRouter(include_in_schema=False)
User = Annotated[Principal, Depends(page_user)]
Days = Annotated[int, Query(ge=1, le=3660)]
FormText = Annotated[str, Form()]


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def _state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def render(request: Request, principal: Principal, name: str, data: dict[str, Any], **extra: Any) -> Response:
    response: Response = request.app.state.templates.TemplateResponse(
        request, name, {"principal": principal, "data": data, "charts": charts, **extra})
    return response


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


@router.get("/")
def overview(request: Request, principal: User, days: Days = 30) -> Response:
    return render(request, principal, "overview.html", views.overview(_state(request), principal.user, days))


@router.get("/domains/{domain}")
def domain(request: Request, principal: User, domain: str, days: Days = 30) -> Response:
    name = principal.domain(domain)
    return render(request, principal, "domain.html", views.domain_view(_state(request), name, days))


@router.get("/domains/{domain}/sources/{ip}")
def source(request: Request, principal: User, domain: str, ip: str, days: Days = 30) -> Response:
    name = principal.domain(domain)
    return render(request, principal, "source.html", views.source_view(_state(request), name, ip, days))


@router.get("/domains/{domain}/records")
def records(request: Request, principal: User, domain: str) -> Response:
    name = principal.domain(domain)
    return render(request, principal, "records.html", views.records_view(_state(request), name))


@router.get("/domains/{domain}/records/drift")
def drift(request: Request, principal: User, domain: str) -> Response:
    name = principal.domain(domain)
    fragment = request.headers.get("hx-request") == "true"
    return render(request, principal, "_drift.html" if fragment else "drift.html",
                  views.drift_view(_state(request), name))


@router.get("/domains/{domain}/plan")
def plan(request: Request, principal: User, domain: str, days: Days = 14) -> Response:
    name = principal.domain(domain)
    return render(request, principal, "plan.html", views.plan_view(_state(request), name, days))


@router.get("/domains/{domain}/audit")
def audit(request: Request, principal: User, domain: str) -> Response:
    name = principal.domain(domain)
    return render(request, principal, "audit.html", views.audit_view(_state(request), name))


@router.post("/domains/{domain}/decisions")
def decide(request: Request, principal: User, domain: str, subject: FormText = "", decision: FormText = "",
           reason: FormText = "", csrf_token: FormText = "") -> Response:
    name = principal.domain(domain)
    check_csrf(request, principal, csrf_token)
    actions.decide_action(_state(request), principal, name, subject, decision, reason)
    return _back(f"/domains/{name}#services")


@router.post("/domains/{domain}/advance")
def advance(request: Request, principal: User, domain: str, reason: FormText = "", force: FormText = "",
            csrf_token: FormText = "") -> Response:
    name = principal.domain(domain)
    check_csrf(request, principal, csrf_token)
    actions.advance_action(_state(request), principal, name, reason, force == "yes")
    return _back(f"/domains/{name}/plan")


@router.post("/domains/{domain}/rollback")
def rollback(request: Request, principal: User, domain: str, reason: FormText = "", to: FormText = "",
             csrf_token: FormText = "") -> Response:
    name = principal.domain(domain)
    check_csrf(request, principal, csrf_token)
    actions.rollback_action(_state(request), principal, name, reason, to or None)
    return _back(f"/domains/{name}/plan")


@router.get("/reports")
def reports(request: Request, principal: User, domain: str | None = None) -> Response:
    name = principal.domain(domain) if domain else None
    return render(request, principal, "reports.html", reportviews.reports_view(_state(request), principal.user, name))


@router.get("/reports/{kind}/{report_id}")
def report(request: Request, principal: User, kind: str, report_id: int) -> Response:
    data = reportviews.report_view(_state(request), principal.user, reportviews.parse_kind(kind), report_id)
    return render(request, principal, "report.html", data)


@router.get("/reports/{kind}/{report_id}/raw")
def report_raw(request: Request, principal: User, kind: str, report_id: int) -> Response:
    """The input exactly as received, as a download (never rendered by the browser)."""
    state = _state(request)
    found = reportviews.visible_report(state, principal.user, reportviews.parse_kind(kind), report_id)
    headers = {"Content-Disposition": f'attachment; filename="report-{kind}-{report_id}.bin"',
               "Content-Security-Policy": "sandbox; default-src 'none'"}
    return StreamingResponse(reportviews.raw_chunks(state, found.sha256), media_type="application/octet-stream",
                             headers=headers)


@router.get("/upload")
def upload_form(request: Request, principal: User) -> Response:
    principal.require_global_admin()
    return render(request, principal, "upload.html", {"result": None,
                                                      "limit": _state(request).config.max_upload_bytes})


@router.post("/upload")
def upload(request: Request, principal: User, report: Annotated[UploadFile | None, File()] = None,
           csrf_token: FormText = "") -> Response:
    check_csrf(request, principal, csrf_token)
    principal.require_global_admin()
    if report is None:
        return render(request, principal, "upload.html", {"result": None, "error": "choose a file",
                                                          "limit": _state(request).config.max_upload_bytes})
    result = actions.upload_action(_state(request), principal, report.filename or "upload", report.file)
    return render(request, principal, "upload.html", {"result": result,
                                                      "limit": _state(request).config.max_upload_bytes})


@router.get("/quarantine")
def quarantine(request: Request, principal: User) -> Response:
    principal.require_global_admin()
    return render(request, principal, "quarantine.html", reportviews.quarantine_view(_state(request)))
