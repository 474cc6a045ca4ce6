"""Accounts: argon2 passwords, server-side sessions, API tokens, login rate limiting.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106). Session
and API-token secrets are 256-bit random values; only their SHA-256 is
stored (a slow hash adds nothing to a secret with that much entropy). Failed
logins are counted in the database per user name and per client address, so
the limit holds across worker processes and restarts.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dmarcpilot.policy.approvals import ApprovalError, normalise_domain
from dmarcpilot.store import users as store
from dmarcpilot.store.users import ALL_DOMAINS, Role, SessionRow, TokenRow, User, UserError
from dmarcpilot.web.config import WebConfig
from dmarcpilot.web.errors import NotAuthenticated, TooManyAttempts

_HASHER = PasswordHasher()
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,63}$")
TOKEN_PREFIX = "dp_"
MIN_PASSWORD = 10


@functools.cache
def _dummy_hash() -> str:
    """Verified when the user does not exist, so a wrong name costs as long as a wrong password."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def check_username(name: str) -> str:
    if not _USERNAME.match(name):
        raise UserError(f"invalid user name {name!r}: lower-case letters, digits and . _ @ + - (at most 64)")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise UserError(f"a password has {MIN_PASSWORD} to 1024 characters")
    return password


def check_domains(domains: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``*`` (every domain) or a list of domain names, normalised."""
    if not domains:
        raise UserError("give the domains the user may see (or * for all)")
    if ALL_DOMAINS in domains:
        return (ALL_DOMAINS,)
    try:
        return tuple(sorted({normalise_domain(d) for d in domains}))
    except ApprovalError as exc:
        raise UserError(str(exc)) from None


def hash_password(password: str) -> str:
    return _HASHER.hash(check_password(password))


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Accounts:
    engine: sa.Engine
    config: WebConfig

    def create(self, username: str, password: str, role: Role, domains: tuple[str, ...] | list[str]) -> User:
        return store.add_user(self.engine, check_username(username), hash_password(password), role,
                              check_domains(domains), _now())

    def set_password(self, username: str, password: str) -> None:
        store.update_user(self.engine, username, _now(), password_hash=hash_password(password))

    def login(self, username: str, password: str, client: str) -> tuple[str, SessionRow]:
        """A new session (its secret, for the cookie) or NotAuthenticated / TooManyAttempts."""
        now = _now()
        since = now - self.config.login_window
        user_key, ip_key = f"user:{username.lower()}", f"ip:{client}"
        if (store.failures_since(self.engine, user_key, since) >= self.config.login_max_failures_user
                or store.failures_since(self.engine, ip_key, since) >= self.config.login_max_failures_ip):
            raise TooManyAttempts("too many failed logins: wait a few minutes and try again")
        found = store.get_user(self.engine, username.lower())
        if not _verify(found[1] if found else _dummy_hash(), password) or found is None:
            store.record_failure(self.engine, (user_key, ip_key), now, now - self.config.login_window * 4)
            raise NotAuthenticated("wrong user name or password")
        user, stored_hash = found
        if _HASHER.check_needs_rehash(stored_hash):
            store.update_user(self.engine, user.username, now, password_hash=_HASHER.hash(password))
        store.clear_failures(self.engine, user_key)
        secret = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + self.config.session_ttl
        store.create_session(self.engine, secret_digest(secret), user.username, csrf, now, expires)
        return secret, SessionRow(user, csrf, expires)

    def session(self, secret: str) -> SessionRow | None:
        return store.get_session(self.engine, secret_digest(secret), _now())

    def logout(self, secret: str) -> None:
        store.delete_session(self.engine, secret_digest(secret))

    def new_token(self, username: str, name: str) -> tuple[str, TokenRow]:
        """A new API token: its secret is shown once and never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return secret, store.add_token(self.engine, username, name or "api", secret_digest(secret), _now())

    def token_user(self, secret: str) -> User | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        return store.token_user(self.engine, secret_digest(secret), _now())


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return bool(_HASHER.verify(stored_hash, password))
    except (VerificationError, InvalidHashError):
        return False
