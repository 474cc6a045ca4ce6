"""Web accounts: users, server-side sessions, API tokens and failed logins.

Secrets never reach this module in clear: sessions and API tokens are kept
as the SHA-256 of their random value, passwords as argon2 hashes (both made
in ``web.accounts``). Failed logins are rows, so a limit holds across every
process serving the same database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.store.schema import web_api_tokens, web_login_failures, web_sessions, web_users

ALL_DOMAINS = "*"


class UserError(DmarcpilotError):
    """An account that does not exist, exists already or cannot be stored."""


class Role(enum.Enum):
    VIEWER = "viewer"  # reads every page of its domains
    ADMIN = "admin"  # also decides: approvals, stage moves, uploads


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    domains: tuple[str, ...]  # ("*",): every domain
    created_at: datetime
    updated_at: datetime

    @property
    def all_domains(self) -> bool:
        return ALL_DOMAINS in self.domains

    def may_see(self, domain: str) -> bool:
        return self.all_domains or domain in self.domains

    def to_dict(self) -> dict[str, Any]:
        return {"username": self.username, "role": self.role.value, "domains": list(self.domains),
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}


@dataclass(frozen=True, slots=True)
class SessionRow:
    user: User
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRow:
    id: int
    username: str
    name: str
    created_at: datetime
    last_used_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "name": self.name,
                "created_at": self.created_at.isoformat(),
                "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None}


def _user(row: Any) -> User:
    return User(row.username, Role(row.role), tuple(row.domains or ()), row.created_at, row.updated_at)


# --------------------------------------------------------------------------- users


def add_user(engine: sa.Engine, username: str, password_hash: str, role: Role, domains: tuple[str, ...],
             now: datetime) -> User:
    try:
        with engine.begin() as conn:
            conn.execute(web_users.insert().values(username=username, password_hash=password_hash, role=role.value,
                                                   domains=list(domains), created_at=now, updated_at=now))
    except sa.exc.IntegrityError:
        raise UserError(f"user {username!r} exists already") from None
    return User(username, role, domains, now, now)


def update_user(engine: sa.Engine, username: str, now: datetime, *, password_hash: str | None = None,
                role: Role | None = None, domains: tuple[str, ...] | None = None) -> None:
    """Change what is given; a new password ends every session of the user."""
    values: dict[str, Any] = {"updated_at": now}
    if password_hash is not None:
        values["password_hash"] = password_hash
    if role is not None:
        values["role"] = role.value
    if domains is not None:
        values["domains"] = list(domains)
    with engine.begin() as conn:
        found = conn.execute(web_users.update().where(web_users.c.username == username).values(**values)).rowcount
        if not found:
            raise UserError(f"no user {username!r}")
        if password_hash is not None:
            conn.execute(web_sessions.delete().where(web_sessions.c.username == username))


def delete_user(engine: sa.Engine, username: str) -> None:
    """The user, its sessions and its API tokens."""
    with engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.username == username))
        conn.execute(web_api_tokens.delete().where(web_api_tokens.c.username == username))
        if not conn.execute(web_users.delete().where(web_users.c.username == username)).rowcount:
            raise UserError(f"no user {username!r}")


def list_users(engine: sa.Engine) -> list[User]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(sa.select(web_users).order_by(web_users.c.username))]


def get_user(engine: sa.Engine, username: str) -> tuple[User, str] | None:
    """The user and its password hash."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(web_users).where(web_users.c.username == username)).first()
    return None if row is None else (_user(row), row.password_hash)


# --------------------------------------------------------------------------- sessions


def create_session(engine: sa.Engine, token_hash: str, username: str, csrf_token: str, now: datetime,
                   expires_at: datetime) -> None:
    with engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.expires_at <= now))
        conn.execute(web_sessions.insert().values(token_hash=token_hash, username=username, csrf_token=csrf_token,
                                                  created_at=now, expires_at=expires_at))


def get_session(engine: sa.Engine, token_hash: str, now: datetime) -> SessionRow | None:
    s, u = web_sessions.c, web_users.c
    query = (sa.select(web_users, s.csrf_token, s.expires_at).join(web_sessions, s.username == u.username)
             .where(s.token_hash == token_hash, s.expires_at > now))
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else SessionRow(_user(row), row.csrf_token, row.expires_at)


def delete_session(engine: sa.Engine, token_hash: str) -> None:
    with engine.begin() as conn:
        conn.execute(web_sessions.delete().where(web_sessions.c.token_hash == token_hash))


# --------------------------------------------------------------------------- API tokens


def add_token(engine: sa.Engine, username: str, name: str, token_hash: str, now: datetime) -> TokenRow:
    if get_user(engine, username) is None:
        raise UserError(f"no user {username!r}")
    with engine.begin() as conn:
        token_id = conn.execute(web_api_tokens.insert().values(
            token_hash=token_hash, username=username, name=name, created_at=now)
            .returning(web_api_tokens.c.id)).scalar_one()
    return TokenRow(int(token_id), username, name, now, None)


def token_user(engine: sa.Engine, token_hash: str, now: datetime) -> User | None:
    """The owner of a token (and the token's last use moves to ``now``)."""
    t, u = web_api_tokens.c, web_users.c
    with engine.begin() as conn:
        row = conn.execute(sa.select(web_users).join(web_api_tokens, t.username == u.username)
                           .where(t.token_hash == token_hash)).first()
        if row is None:
            return None
        conn.execute(web_api_tokens.update().where(t.token_hash == token_hash).values(last_used_at=now))
    return _user(row)


def list_tokens(engine: sa.Engine, username: str | None = None) -> list[TokenRow]:
    t = web_api_tokens.c
    query = sa.select(t.id, t.username, t.name, t.created_at, t.last_used_at).order_by(t.id)
    if username is not None:
        query = query.where(t.username == username)
    with engine.connect() as conn:
        return [TokenRow(r.id, r.username, r.name, r.created_at, r.last_used_at) for r in conn.execute(query)]


def delete_token(engine: sa.Engine, token_id: int) -> None:
    with engine.begin() as conn:
        if not conn.execute(web_api_tokens.delete().where(web_api_tokens.c.id == token_id)).rowcount:
            raise UserError(f"no API token {token_id}")


# --------------------------------------------------------------------------- failed logins


def record_failure(engine: sa.Engine, keys: tuple[str, ...], now: datetime, forget_before: datetime) -> None:
    """One failed login under each key; failures older than ``forget_before`` go."""
    f = web_login_failures
    with engine.begin() as conn:
        conn.execute(f.insert(), [{"key": key, "at": now} for key in keys])
        conn.execute(f.delete().where(f.c.at < forget_before))


def failures_since(engine: sa.Engine, key: str, since: datetime) -> int:
    f = web_login_failures.c
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(f.key == key, f.at >= since)).scalar() or 0)


def clear_failures(engine: sa.Engine, key: str) -> None:
    with engine.begin() as conn:
        conn.execute(web_login_failures.delete().where(web_login_failures.c.key == key))
