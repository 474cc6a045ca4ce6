"""What every command shares: settings, output format, error mapping."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dmarcpilot.enrich.fetch import default_ip_databases
from dmarcpilot.settings import AppSettings, config_path, load_settings
from dmarcpilot.store.db import DEFAULT_URL, open_store

F = TypeVar("F", bound=Callable[..., Any])

#: Exit codes (DESIGN.md convention 4: each boundary maps errors once).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3


@dataclass
class Settings:
    """Settings declared once: flag > environment (``DMARCPILOT_*``) > configuration file > default.

    The file is ``--config`` (on ``fetch`` and ``run``) or ``DMARCPILOT_CONFIG``
    (every command); see dmarcpilot/settings.py and docs/configuration.md.
    """

    db_url: str = DEFAULT_URL
    #: MMDB files for country / ASN / owner (env DMARCPILOT_IP_DATABASE, os.pathsep-separated).
    ip_databases: list[Path] = field(default_factory=default_ip_databases)
    _engine: sa.Engine | None = None
    #: --db / --ip-database as given (click merged the environment in), to re-resolve with another file.
    db_flag: str | None = None
    ip_flag: str | None = None
    #: The configuration file's settings, when there is one.
    app: AppSettings | None = None

    @classmethod
    def from_env(cls, db: str | None, ip_database: str | None = None, config: str | Path | None = None) -> Settings:
        path = config_path(config)
        app = load_settings(path) if path is not None else None
        if ip_database:
            paths = [Path(p) for p in ip_database.split(os.pathsep) if p]
        elif app is not None and app.ip_databases is not None:
            paths = list(app.ip_databases)
        else:
            paths = default_ip_databases()
        url = db or os.environ.get("DMARCPILOT_DB") or (app.db_url if app else None) or DEFAULT_URL
        return cls(db_url=url, ip_databases=paths, db_flag=db, ip_flag=ip_database, app=app)

    def with_config(self, config: str | Path | None) -> Settings:
        """The same flags over another configuration file (``--config`` of a command)."""
        if config is None:
            return self
        return Settings.from_env(self.db_flag, self.ip_flag, config)

    def app_settings(self) -> AppSettings:
        """The sources and service settings: the file's, or the environment's alone."""
        return self.app if self.app is not None else load_settings(None)

    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = open_store(self.db_url)
        return self._engine


def format_option(func: F) -> F:
    """``--format table|json`` on every command (json for scripts)."""
    return click.option(
        "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
        help="Output as a table for people or JSON for scripts.",
    )(func)


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Cells are printed as text, never as markup (report contents are hostile)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else _plain(v) for v in row))
    console().print(table)


def _plain(value: Any) -> Text:
    return Text(str(value))


def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def is_terminal() -> bool:
    return sys.stderr.isatty()
