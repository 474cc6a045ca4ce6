"""Settings declared once (DESIGN.md convention 8): TOML file, then environment, then flags.

One TOML file (``--config PATH`` or ``DMARCPILOT_CONFIG``), overridden by
``DMARCPILOT_*`` environment variables (secrets also from ``DMARCPILOT_*_FILE``),
overridden by command-line flags. Every setting is documented in
docs/configuration.md; the values end up in typed frozen dataclasses.

Environment names: ``DMARCPILOT_DB``, ``DMARCPILOT_IP_DATABASE``,
``DMARCPILOT_SERVICE_<KEY>``, ``DMARCPILOT_RECEIVER_<KEY>``,
``DMARCPILOT_IMAP_<ACCOUNT>_<KEY>``, ``DMARCPILOT_WATCH`` and the outgoing
mail settings ``DMARCPILOT_SMTP_<KEY>`` (alerts).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from dmarcpilot.errors import ConfigError
from dmarcpilot.jobs.notify import SmtpSettings
from dmarcpilot.sources.imap import ImapAccount, ImapAuth, ImapSecurity, Secret
from dmarcpilot.sources.smtp import SmtpReceiverConfig
from dmarcpilot.sources.watch import AfterIngest, WatchConfig

ENV_PREFIX = "DMARCPILOT_"
CONFIG_ENV = "DMARCPILOT_CONFIG"

T = TypeVar("T")
Table = dict[str, Any]

_IMAP_KEYS = ("url", "host", "port", "user", "folder", "security", "auth", "password", "password_file",
              "oauth2_token", "oauth2_token_file", "archive_folder", "error_folder", "batch_size", "ca_file",
              "verify_tls", "timeout", "idle")
_RECEIVER_KEYS = ("host", "port", "recipients", "spool_dir", "max_message_bytes", "tls_cert", "tls_key",
                  "require_starttls", "hostname")
_SERVICE_KEYS = ("poll_interval", "rdns_interval", "rdns_limit", "spf_refresh_interval", "alerts_interval",
                 "analyses_interval", "nameservers", "reconnect_delay")
_NOTIFY_KEYS = ("host", "port", "from", "starttls", "user", "password", "password_file")


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    """``[service]``: intervals of ``dmarcpilot run`` in seconds; 0 turns a job off."""

    poll_interval: float = 300.0
    rdns_interval: float = 3600.0
    rdns_limit: int = 10_000
    spf_refresh_interval: float = 86_400.0
    alerts_interval: float = 3600.0
    analyses_interval: float = 60.0
    nameservers: tuple[str, ...] = ()
    reconnect_delay: float = 30.0


@dataclass(frozen=True, slots=True)
class AppSettings:
    db_url: str | None = None
    ip_databases: tuple[Path, ...] | None = None
    imap: tuple[ImapAccount, ...] = ()
    receiver: SmtpReceiverConfig | None = None
    watch: tuple[WatchConfig, ...] = ()
    service: ServiceSettings = field(default_factory=ServiceSettings)
    notify: SmtpSettings = field(default_factory=SmtpSettings)
    path: Path | None = None

    @property
    def has_sources(self) -> bool:
        return bool(self.imap or self.receiver or self.watch)


def config_path(flag: str | Path | None, environ: Mapping[str, str] | None = None) -> Path | None:
    """``--config`` wins over ``DMARCPILOT_CONFIG``; None when neither is given."""
    environ = os.environ if environ is None else environ
    raw = flag or environ.get(CONFIG_ENV)
    return Path(raw) if raw else None


def load_settings(path: Path | None = None, environ: Mapping[str, str] | None = None) -> AppSettings:
    """Read the file, overlay the environment, convert and validate everything."""
    environ = os.environ if environ is None else environ
    raw = _read_toml(path) if path is not None else {}
    _overlay_env(raw, environ)
    try:
        return AppSettings(
            db_url=_value(raw, "db", str, None, ""),
            ip_databases=_paths(raw.get("ip_databases")),
            imap=tuple(_imap(name, table) for name, table in sorted(_table(raw, "imap", "").items())),
            receiver=_receiver(_table(raw, "receiver", "")) if raw.get("receiver") else None,
            watch=tuple(_watch(i, t) for i, t in enumerate(_list_of_tables(raw.get("watch")))),
            service=_service(_table(raw, "service", "")),
            notify=_notify(_table(raw, "notify", "")),
            path=path,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path or 'environment'}: {exc}") from None


# -- reading -----------------------------------------------------------------------------


def _read_toml(path: Path) -> Table:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _overlay_env(raw: Table, environ: Mapping[str, str]) -> None:
    """Put ``DMARCPILOT_*`` values over the file's (as strings; converted later like the rest)."""
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        key = name.removeprefix(ENV_PREFIX)
        if key == "DB":
            raw["db"] = value
        elif key == "IP_DATABASE":
            raw["ip_databases"] = [p for p in value.split(os.pathsep) if p]
        elif key == "WATCH":
            raw["watch"] = [{"path": p} for p in value.split(os.pathsep) if p]
        else:
            _overlay_section(raw, key, value)


def _overlay_section(raw: Table, key: str, value: str) -> None:
    sections = (("SERVICE_", "service", _SERVICE_KEYS), ("RECEIVER_", "receiver", _RECEIVER_KEYS),
                ("SMTP_", "notify", _NOTIFY_KEYS))
    for prefix, section, keys in sections:
        rest = key.removeprefix(prefix)
        if rest != key and rest.lower() in keys:
            raw.setdefault(section, {})[rest.lower()] = value
            return
    if key.startswith("IMAP_"):
        rest = key.removeprefix("IMAP_")
        for option in sorted(_IMAP_KEYS, key=len, reverse=True):  # longest first: PASSWORD_FILE before FILE
            suffix = "_" + option.upper()
            if rest.endswith(suffix) and len(rest) > len(suffix):
                account = rest.removesuffix(suffix).lower()
                raw.setdefault("imap", {}).setdefault(account, {})[option] = value
                return


def _table(raw: Table, key: str, where: str) -> Table:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}{key} must be a table")
    return value


def _list_of_tables(value: object) -> list[Table]:
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    raise ValueError("watch must be a list of tables ([[watch]])")


def _convert(value: object, kind: Callable[[Any], T], name: str) -> T:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"{name}: expected a boolean, got {value!r}")
        return value.lower() in ("1", "true", "yes", "on")  # type: ignore[return-value]
    if kind in (int, float) and isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: cannot use {value!r} as {getattr(kind, '__name__', kind)}") from None


def _value(table: Table, key: str, kind: Callable[[Any], T], default: T, where: str) -> T:
    if key not in table or table[key] == "":
        return default
    return _convert(table[key], kind, where + key)


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    raise ValueError(f"expected a list of strings, got {value!r}")


def _paths(value: object) -> tuple[Path, ...] | None:
    return None if value is None else tuple(Path(p) for p in _strings(value))


def _path(table: Table, key: str) -> Path | None:
    value = table.get(key)
    return Path(str(value)) if value else None


# -- sections ----------------------------------------------------------------------------


def _imap(name: str, table: Table) -> ImapAccount:
    where = f"imap.{name}."
    token = table.get("oauth2_token") or table.get("oauth2_token_file")
    auth = ImapAuth(_value(table, "auth", str, "xoauth2" if token else "password", where).lower())
    key = "oauth2_token" if auth is ImapAuth.XOAUTH2 else "password"
    secret = Secret(table.get(key) or None, _path(table, f"{key}_file"))
    options: dict[str, Any] = {
        "name": name, "secret": secret, "auth": auth,
        "security": ImapSecurity(_value(table, "security", str, "tls", where).lower()),
        "archive_folder": _value(table, "archive_folder", str, "dmarcpilot-archive", where),
        "error_folder": _value(table, "error_folder", str, "dmarcpilot-error", where),
        "batch_size": _value(table, "batch_size", int, 50, where),
        "ca_file": _path(table, "ca_file"),
        "verify_tls": _value(table, "verify_tls", bool, True, where),
        "timeout": _value(table, "timeout", float, 60.0, where),
        "use_idle": _value(table, "idle", bool, True, where),
    }
    if table.get("url"):
        if "port" in table:
            options["port"] = _value(table, "port", int, 0, where) or None
        account = ImapAccount.from_url(str(table["url"]), **options)
        return account if not table.get("folder") else _replace_folder(account, str(table["folder"]))
    for required in ("host", "user"):
        if not table.get(required):
            raise ValueError(f"{where}{required} (or {where}url) is required")
    return ImapAccount(host=str(table["host"]), user=str(table["user"]),
                       folder=_value(table, "folder", str, "INBOX", where),
                       port=_value(table, "port", int, 0, where) or None, **options)


def _replace_folder(account: ImapAccount, folder: str) -> ImapAccount:
    return replace(account, folder=folder)


def _receiver(table: Table) -> SmtpReceiverConfig:
    where = "receiver."
    spool = _path(table, "spool_dir")
    if spool is None:
        raise ValueError("receiver.spool_dir is required")
    return SmtpReceiverConfig(
        spool_dir=spool, recipients=_strings(table.get("recipients")),
        host=_value(table, "host", str, "127.0.0.1", where), port=_value(table, "port", int, 2525, where),
        max_message_bytes=_value(table, "max_message_bytes", int, 25 * 1024 * 1024, where),
        tls_cert=_path(table, "tls_cert"), tls_key=_path(table, "tls_key"),
        require_starttls=_value(table, "require_starttls", bool, False, where),
        hostname=_value(table, "hostname", str, "", where),
    )


def _watch(index: int, table: Table) -> WatchConfig:
    where = f"watch[{index}]."
    path = _path(table, "path")
    if path is None:
        raise ValueError(f"{where}path is required")
    return WatchConfig(path=path, after=AfterIngest(_value(table, "after", str, "move", where).lower()),
                       done_dir=_path(table, "done_dir"), error_dir=_path(table, "error_dir"),
                       settle_seconds=_value(table, "settle_seconds", float, 2.0, where))


def _service(table: Table) -> ServiceSettings:
    where, d = "service.", ServiceSettings()
    return ServiceSettings(
        poll_interval=_value(table, "poll_interval", float, d.poll_interval, where),
        rdns_interval=_value(table, "rdns_interval", float, d.rdns_interval, where),
        rdns_limit=_value(table, "rdns_limit", int, d.rdns_limit, where),
        spf_refresh_interval=_value(table, "spf_refresh_interval", float, d.spf_refresh_interval, where),
        alerts_interval=_value(table, "alerts_interval", float, d.alerts_interval, where),
        analyses_interval=_value(table, "analyses_interval", float, d.analyses_interval, where),
        nameservers=_strings(table.get("nameservers")),
        reconnect_delay=_value(table, "reconnect_delay", float, d.reconnect_delay, where),
    )


def _notify(table: Table) -> SmtpSettings:
    where, d = "notify.", SmtpSettings()
    password_file = _path(table, "password_file")
    try:
        password = password_file.read_text().strip() if password_file else table.get("password") or None
    except OSError as exc:
        raise ConfigError(f"cannot read {password_file}: {exc.strerror or exc}") from None
    return SmtpSettings(host=_value(table, "host", str, d.host, where), port=_value(table, "port", int, d.port, where),
                        sender=_value(table, "from", str, d.sender, where),
                        starttls=_value(table, "starttls", bool, d.starttls, where),
                        user=table.get("user") or None, password=password)
