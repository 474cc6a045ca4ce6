"""Fixtures of the web tests: a populated store served in process (httpx TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmarcpilot.store.db import create_engine, migrate
from tests.web.site import Site, make_site


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """One store for the read-only tests of a module (building it hashes three passwords)."""
    tmp = tmp_path_factory.mktemp("web")
    engine = create_engine(f"sqlite:///{tmp / 'dmarcpilot.db'}")
    migrate(engine)
    yield make_site(engine, tmp)
    engine.dispose()


@pytest.fixture
def site(engine: sa.Engine, tmp_path: Path) -> Site:
    """A fresh store per test, on SQLite and on PostgreSQL, for tests that change things."""
    return make_site(engine, tmp_path)


@pytest.fixture
def sqlite_site(sqlite_url: str, tmp_path: Path) -> Iterator[Site]:
    engine = create_engine(sqlite_url)
    migrate(engine)
    yield make_site(engine, tmp_path)
    engine.dispose()
