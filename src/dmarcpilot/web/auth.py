"""/login and /logout: the only pages reachable without a session."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from dmarcpilot.web.errors import NotAuthenticated, TooManyAttempts
from dmarcpilot.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Principal,
    authenticate,
    check_csrf,
    check_login_csrf,
    page_user,
)

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path of this site (no scheme, no host, no //host) is a place to go back to."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _login_page(request: Request, next_url: str, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response: Response = request.app.state.templates.TemplateResponse(
        request, "login.html", {"principal": None, "login_token": token, "next": safe_next(next_url),
                                "error": error}, status_code=status)
    response.set_cookie(LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="lax",
                        secure=request.app.state.web.config.secure_cookies, path="/login")
    return response


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    if authenticate(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next)


@router.post("/login")
def login(request: Request, username: Annotated[str, Form()] = "", password: Annotated[str, Form()] = "",
          csrf_token: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    check_login_csrf(request, csrf_token)
    state = request.app.state.web
    client = request.client.host if request.client else "unknown"
    try:
        secret, _session = state.accounts.login(username.strip(), password, client)
    except TooManyAttempts as exc:
        return _login_page(request, next, str(exc), 429)
    except NotAuthenticated as exc:
        return _login_page(request, next, str(exc), 401)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(state.config.session_ttl.total_seconds()),
                        httponly=True, samesite="lax", secure=state.config.secure_cookies, path="/")
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, principal: Annotated[Principal, Depends(page_user)],
           csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, principal, csrf_token)
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        request.app.state.web.accounts.logout(secret)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
