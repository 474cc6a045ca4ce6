"""Who is asking (session cookie or API token), what they may do, CSRF, and the headers every answer carries."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from dmarcpilot.policy.approvals import ApprovalError, normalise_domain
from dmarcpilot.store.users import Role, User
from dmarcpilot.web.errors import CsrfRejected, Forbidden, NotAuthenticated, NotFound, TooLarge

SESSION_COOKIE = "dmarcpilot_session"
LOGIN_COOKIE = "dmarcpilot_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

#: No inline script or style, nothing from elsewhere; SVG map shapes come from our own /static.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)


@dataclass(frozen=True)
class Principal:
    """An authenticated user; ``csrf_token`` is None for API tokens (no browser sends them by itself)."""

    user: User
    csrf_token: str | None

    @property
    def is_admin(self) -> bool:
        return self.user.role is Role.ADMIN

    def domain(self, name: str) -> str:
        """``name`` normalised, if this user may see it."""
        try:
            domain = normalise_domain(name)
        except ApprovalError:
            raise NotFound(f"no domain {name!r}") from None
        if not self.user.may_see(domain):
            raise Forbidden(f"you have no access to {domain}")
        return domain

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("this needs the admin role")

    def require_global_admin(self) -> None:
        """Admins of every domain: uploads and the quarantine may concern any domain."""
        self.require_admin()
        if not self.user.all_domains:
            raise Forbidden("this needs the admin role for every domain")


def authenticate(request: Request) -> Principal | None:
    accounts = request.app.state.web.accounts
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        user = accounts.token_user(secret.strip())
        return None if user is None else Principal(user, None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    session = accounts.session(cookie)
    return None if session is None else Principal(session.user, session.csrf_token)


class LoginRequired(NotAuthenticated):
    """A page asked for without a session: answered with a redirect to /login."""


def page_user(request: Request) -> Principal:
    principal = authenticate(request)
    if principal is None:
        raise LoginRequired("log in first")
    return principal


def api_user(request: Request) -> Principal:
    principal = authenticate(request)
    if principal is None:
        raise NotAuthenticated("log in or send Authorization: Bearer <API token>")
    return principal


def _same_origin(request: Request) -> bool:
    """A browser's Origin header, when sent, names this host (behind a TLS proxy the scheme may differ)."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = origin.split("://", 1)[-1]
    return hmac.compare_digest(host.encode(), request.headers.get("host", "").encode())


def check_csrf(request: Request, principal: Principal, submitted: str | None) -> None:
    """Every state-changing request of a cookie session carries the session's token (form field or header)."""
    if principal.csrf_token is None:
        return
    token = submitted or request.headers.get(CSRF_HEADER) or ""
    if not _same_origin(request) or not hmac.compare_digest(token.encode(), principal.csrf_token.encode()):
        raise CsrfRejected("missing or wrong CSRF token: reload the page and try again")


def check_login_csrf(request: Request, submitted: str) -> None:
    """The login form's token must match its cookie (double submit), so no other site can log you in."""
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    if not cookie or not _same_origin(request) or not hmac.compare_digest(cookie.encode(), submitted.encode()):
        raise CsrfRejected("the login form expired: reload the page and try again")


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """Adds the CSP and friends to every answer; pages and API answers are never cached."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(HEADERS)
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, wrapped)


class BodyLimit:
    """Refuses request bodies over a limit: uploads get the upload limit, everything else 1 MiB."""

    def __init__(self, app: ASGIApp, upload_paths: tuple[str, ...], upload_limit: int,
                 other_limit: int = 1024 * 1024) -> None:
        self.app, self.upload_paths = app, upload_paths
        self.upload_limit, self.other_limit = upload_limit, other_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_limit if scope["path"] in self.upload_paths else self.other_limit
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge(f"the request body exceeds {limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send, limit: int) -> None:
    body = f'{{"error": {{"code": "too_large", "message": "the request body exceeds {limit} bytes"}}}}'.encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
