"""Two ingest processes on the same inputs at once: every report stored exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.store.db import create_engine, migrate
from dmarcpilot.store.schema import aggregate_records, aggregate_reports, blobs, inputs
from tests.reportgen import write_reports

REPORTS = 12
RECORDS = 2_000


def test_concurrent_ingests_store_each_report_once(db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "shared-inbox"
    write_reports(directory, REPORTS, RECORDS)
    engine = create_engine(db_url)
    migrate(engine)
    cmd = [sys.executable, "-m", "dmarcpilot", "--db", db_url, "ingest", "--format", "json", str(directory)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err.decode()
    summaries = [json.loads(out) for out, _ in results]
    assert sum(s["reports_ingested"] for s in summaries) == REPORTS
    assert all(s["reports_ingested"] + s["reports_duplicate"] == REPORTS for s in summaries)
    with engine.connect() as conn:
        def count(table: sa.Table) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())

        assert count(aggregate_reports) == REPORTS
        assert count(aggregate_records) == REPORTS * RECORDS
        assert count(blobs) == REPORTS
        assert count(inputs) == REPORTS
    engine.dispose()
