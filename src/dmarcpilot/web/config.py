"""Settings of the web app, declared once (flag > environment ``DMARCPILOT_WEB_*`` > default)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dmarcpilot.errors import ConfigError
from dmarcpilot.reports.limits import DEFAULT_LIMITS

MiB = 1024 * 1024


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {value!r}")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    try:
        return default if not value else int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None


@dataclass(frozen=True)
class WebConfig:
    db_url: str
    ip_databases: tuple[Path, ...] = ()
    #: Secure flag on the session cookie (env DMARCPILOT_WEB_SECURE_COOKIES); off only for plain-HTTP tests.
    secure_cookies: bool = True
    session_ttl: timedelta = timedelta(hours=12)
    #: Failed logins allowed per user name and per client address within ``login_window``.
    login_max_failures_user: int = 5
    login_max_failures_ip: int = 20
    login_window: timedelta = timedelta(minutes=15)
    #: Largest report upload accepted (never above the ingest limit).
    max_upload_bytes: int = 50 * MiB
    #: Resolvers asked for the drift check (host or host:port); empty: the system's.
    nameservers: tuple[str, ...] = field(default_factory=tuple)
    drift_timeout: float = 10.0
    default_days: int = 30

    def __post_init__(self) -> None:
        if not 0 < self.max_upload_bytes <= DEFAULT_LIMITS.max_input_bytes:
            raise ConfigError(f"the upload limit must be between 1 and {DEFAULT_LIMITS.max_input_bytes} bytes")

    @classmethod
    def from_env(cls, db_url: str, ip_databases: list[Path] | tuple[Path, ...] = ()) -> WebConfig:
        servers = os.environ.get("DMARCPILOT_WEB_NAMESERVERS", "")
        return cls(
            db_url=db_url, ip_databases=tuple(ip_databases),
            secure_cookies=_env_bool("DMARCPILOT_WEB_SECURE_COOKIES", True),
            session_ttl=timedelta(minutes=_env_int("DMARCPILOT_WEB_SESSION_MINUTES", 720)),
            max_upload_bytes=_env_int("DMARCPILOT_WEB_MAX_UPLOAD_BYTES", 50 * MiB),
            nameservers=tuple(s for s in servers.split(",") if s),
        )
