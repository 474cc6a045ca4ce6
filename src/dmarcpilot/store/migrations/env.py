"""Alembic environment: always run with a connection handed in by store.db."""

from __future__ import annotations

from alembic import context

from dmarcpilot.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reachable from the alembic CLI
    raise SystemExit("run migrations through dmarcpilot (store.db.migrate)")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
