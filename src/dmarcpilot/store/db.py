"""Engines and migrations: SQLite (WAL) by default, PostgreSQL by URL."""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

from dmarcpilot.errors import DmarcpilotError

DEFAULT_URL = "sqlite:///dmarcpilot.db"
#: Serialises concurrent migrations of a shared PostgreSQL (any 64-bit key).
_MIGRATION_LOCK = 0x646D61726370  # "dmarcp"


class StoreError(DmarcpilotError):
    """The database cannot be reached or is not usable."""


def normalise_url(url: str) -> str:
    """Accept the usual short forms (``postgresql://``) and pick psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str = DEFAULT_URL) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        # check_same_thread off: the pool hands a connection to whichever thread
        # checks it out next; each is used by one thread at a time.
        engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})
        _configure_sqlite(engine)
    else:
        engine = sa.create_engine(url, pool_pre_ping=True)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL for concurrent readers; transactions begun by us, not by pysqlite.

    Every write transaction of dmarcpilot starts with a write, so a deferred
    BEGIN takes the write lock at its first statement and waits (busy_timeout)
    instead of deadlocking. Readers never block writers in WAL mode. A
    connection that must lock up front sets the execution option
    ``sqlite_begin="IMMEDIATE"`` (migrations do).
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        # 32 MiB page cache: index maintenance of a million random IPs stays mostly in memory
        cur.execute("PRAGMA cache_size=-32768")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision; safe to run concurrently."""
    cfg = Config()
    cfg.set_main_option("script_location", "dmarcpilot.store:migrations")
    try:
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open the database {engine.url!r}: {exc.orig}") from None


def open_store(url: str = DEFAULT_URL) -> Engine:
    engine = create_engine(url)
    migrate(engine)
    return engine
