"""The few statements that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def upsert_insert(conn: sa.Connection | str, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing/do_update`` (SQLite and PostgreSQL).

    ``conn`` is a connection or its dialect's name.
    """
    name = conn if isinstance(conn, str) else conn.dialect.name
    module = postgresql if name == "postgresql" else sqlite
    return module.insert(table)


def locked(conn: sa.Connection, query: sa.Select[Any]) -> sa.Select[Any]:
    """``query`` for rows the transaction is about to change: FOR UPDATE on PostgreSQL.

    On SQLite the caller's ``sqlite_begin="IMMEDIATE"`` transaction already holds the write lock.
    """
    return query.with_for_update() if conn.dialect.name == "postgresql" else query


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


def bulk_add(conn: sa.Connection, table: sa.Table, keys: tuple[str, ...], sums: tuple[str, ...],
             rows: list[tuple[Any, ...]]) -> None:
    """Upsert rows of (keys..., sums...), adding ``sums`` to an existing row's: one driver executemany.

    ``INSERT ... ON CONFLICT (keys) DO UPDATE SET s = table.s + excluded.s`` is
    the same on SQLite (3.24+) and PostgreSQL; going to the driver directly
    skips SQLAlchemy's per-row parameter processing, which cost more than
    the statement itself for small reports. Dates go to SQLite as ISO text,
    as SQLAlchemy's ``Date`` stores them.
    """
    if not rows:
        return
    postgres = conn.dialect.name == "postgresql"
    columns = (*keys, *sums)
    mark = "%s" if postgres else "?"
    updates = ", ".join(f"{s} = {table.name}.{s} + excluded.{s}" for s in sums)
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "  # noqa: S608 - names are ours
           f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}")
    if not postgres:
        rows = [tuple(v.isoformat() if isinstance(v, date) else v for v in row) for row in rows]
    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()
