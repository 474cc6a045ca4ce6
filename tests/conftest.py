"""Shared fixtures: a store on SQLite and on the machine's PostgreSQL.

The PostgreSQL server comes from ``DMARCPILOT_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth); each test
gets a database of its own, created and dropped here. If the server cannot
be reached the tests fail: they are never skipped.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmarcpilot.analysis.senders import flush_saves
from dmarcpilot.store.db import create_engine, migrate

PG_ADMIN_URL = os.environ.get("DMARCPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection to a non-loopback address fails the test (DESIGN.md convention 2)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else None
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") \
                and not host.startswith("127."):
            raise AssertionError(f"test tried to reach the network: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _admin_engine() -> sa.Engine:
    return sa.create_engine(create_engine(PG_ADMIN_URL).url, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    name = f"dmarcpilot_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'dmarcpilot.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'dmarcpilot.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = create_engine(db_url)
    migrate(eng)
    yield eng
    flush_saves()  # analyses still being shared in the background, before the database goes
    eng.dispose()
