"""The ASGI app: routers, static files, security middleware and the one error mapping of the web boundary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from dmarcpilot import __version__
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.policy.approvals import ApprovalError
from dmarcpilot.policy.stages import StageError
from dmarcpilot.store.db import open_store
from dmarcpilot.web import api, auth, pages
from dmarcpilot.web.accounts import Accounts
from dmarcpilot.web.config import WebConfig
from dmarcpilot.web.errors import WebError
from dmarcpilot.web.security import BodyLimit, LoginRequired, SecurityHeaders
from dmarcpilot.web.views import WebState

HERE = Path(__file__).parent
UPLOAD_PATHS = ("/upload", "/api/reports")


def templates() -> Jinja2Templates:
    """Autoescaping on for every template (report contents are attacker-controlled)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return Jinja2Templates(env=env)


def create_app(config: WebConfig, state: WebState | None = None) -> FastAPI:
    app = FastAPI(title="dmarcpilot", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  description="The JSON twin of every dashboard page. Authenticate with a session cookie "
                              "(state-changing requests then need the X-CSRF-Token header) or with "
                              "`Authorization: Bearer <API token>` (`dmarcpilot user token add`).")
    if state is None:
        engine = open_store(config.db_url)
        state = WebState(engine, config, IpDatabase.optional(list(config.ip_databases)), load_catalogue(),
                         Accounts(engine, config))
    app.state.web = state
    app.state.templates = templates()
    app.include_router(auth.router)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _errors(app)
    app.add_middleware(BodyLimit, upload_paths=UPLOAD_PATHS, upload_limit=config.max_upload_bytes + 1024 * 1024)
    app.add_middleware(SecurityHeaders)
    return app


def _status(exc: DmarcpilotError) -> tuple[int, str]:
    if isinstance(exc, WebError):
        return exc.status, exc.code
    if isinstance(exc, StageError):
        return 409, "conflict"
    if isinstance(exc, ApprovalError):
        return 400, "invalid"
    return 400, "error"


def error_response(request: Request, status: int, code: str, message: str) -> Response:
    """One JSON shape for the API, one error page for people."""
    if request.url.path.startswith("/api/"):
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)
    page: Response = request.app.state.templates.TemplateResponse(
        request, "error.html", {"status": status, "code": code, "message": message, "principal": None},
        status_code=status)
    return page


def _errors(app: FastAPI) -> None:
    @app.exception_handler(DmarcpilotError)
    async def domain_error(request: Request, exc: DmarcpilotError) -> Response:
        if isinstance(exc, LoginRequired) and not request.url.path.startswith("/api/"):
            return RedirectResponse(pages.login_url(request), status_code=303)
        status, code = _status(exc)
        return error_response(request, status, code, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        message = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return error_response(request, 422, "invalid_request", message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail: Any = exc.detail
        return error_response(request, exc.status_code, "http_error", str(detail))
