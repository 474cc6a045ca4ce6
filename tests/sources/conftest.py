"""Fixtures of the collection tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from dmarcpilot.store.db import create_engine, migrate


@pytest.fixture
def store(sqlite_url: str) -> Iterator[sa.Engine]:
    """A migrated SQLite store (the sources' tests run one backend; the store tests cover both)."""
    engine = create_engine(sqlite_url)
    migrate(engine)
    yield engine
    engine.dispose()
