"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def upsert_insert(conn: sa.Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing/do_update`` (SQLite and PostgreSQL)."""
    module = postgresql if conn.dialect.name == "postgresql" else sqlite
    return module.insert(table)


def insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the connection's dialect."""
    return upsert_insert(conn, table).on_conflict_do_nothing()


def bulk_insert(conn: sa.Connection, table: sa.Table, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """Fast bulk load: COPY on PostgreSQL, one executemany on SQLite.

    Both run inside the caller's transaction on the same connection. Values
    are always parameters (or COPY data), never SQL text.
    """
    if not rows:
        return
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cols = ", ".join(columns)
        with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608 - names are ours
    finally:
        cur.close()
