from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.db import create_engine, migrate
from dmarcpilot.store.schema import metadata, monthly_source_evidence, monthly_source_stats


def test_migrations_create_exactly_the_schema(db_url: str) -> None:
    engine = create_engine(db_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrate_twice_is_a_no_op(db_url: str) -> None:
    engine = create_engine(db_url)
    migrate(engine)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1


def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    migrate(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_migration_0006_fills_the_monthly_tier_from_the_daily_one(db_url: str, tmp_path: Path) -> None:
    """Upgrading a store that holds reports gives the monthly rows the writer would have written."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(db_url)
    migrate(engine)
    reports = tmp_path / "reports"
    reports.mkdir()
    days = [("2023-10-31", "a", 3), ("2023-11-01", "b", 4), ("2023-11-20", "c", 5)]
    for day, report_id, count in days:
        (reports / f"{report_id}.xml").write_bytes(_report(report_id, day, count))
    Ingestor(engine).run(walk_paths([str(reports)]))

    def monthly() -> set[tuple[object, ...]]:
        with engine.connect() as conn:
            return {tuple(r) for r in conn.execute(sa.select(monthly_source_stats))} | \
                {tuple(r) for r in conn.execute(sa.select(monthly_source_evidence))}

    written = monthly()
    assert ("example.edu", date(2023, 11, 1), "192.0.2.1", 9, 9, 9, 0, 0, 0) in written
    cfg = Config()
    cfg.set_main_option("script_location", "dmarcpilot.store:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005")
        command.upgrade(cfg, "head")
    assert monthly() == written


def _report(report_id: str, day: str, count: int) -> bytes:
    begin = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())
    return f"""<?xml version="1.0"?><feedback><report_metadata><org_name>r</org_name>
<report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
</report_metadata><policy_published><domain>example.edu</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>{count}</count><policy_evaluated><disposition>none</disposition>
<dkim>pass</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>example.edu</header_from>
</identifiers><auth_results><dkim><domain>vendor.example</domain><result>pass</result></dkim></auth_results>
</record></feedback>""".encode()
