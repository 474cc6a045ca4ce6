"""The web boundary's errors: each maps once to a status and one JSON error shape (DESIGN.md convention 4)."""

from __future__ import annotations

from dmarcpilot.errors import DmarcpilotError


class WebError(DmarcpilotError):
    status = 400
    code = "bad_request"


class NotAuthenticated(WebError):
    status = 401
    code = "not_authenticated"


class Forbidden(WebError):
    status = 403
    code = "forbidden"


class CsrfRejected(Forbidden):
    code = "csrf_rejected"


class NotFound(WebError):
    status = 404
    code = "not_found"


class TooLarge(WebError):
    status = 413
    code = "too_large"


class TooManyAttempts(WebError):
    status = 429
    code = "too_many_attempts"
