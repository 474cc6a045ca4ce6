"""Kill the ingest process mid-batch (SIGKILL), then ingest again: nothing half-stored, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.store.db import create_engine, migrate
from dmarcpilot.store.schema import aggregate_records, aggregate_reports
from tests.reportgen import write_reports

REPORTS = 8
RECORDS = 15_000


def _stored(engine: sa.Engine) -> list[tuple[str, int, int, int]]:
    """(report id, record_count, rows actually stored, message_count) per report."""
    rows = sa.select(sa.func.count()).where(aggregate_records.c.report_pk == aggregate_reports.c.id)
    query = sa.select(
        aggregate_reports.c.report_id, aggregate_reports.c.record_count,
        rows.scalar_subquery(), aggregate_reports.c.message_count,
    ).order_by(aggregate_reports.c.report_id)
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc]


def _ingest(db_url: str, directory: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dmarcpilot", "--db", db_url, "ingest", "--format", "json", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _kill_after(proc: subprocess.Popen[bytes], engine: sa.Engine, reports: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_stored(engine)) >= reports or proc.poll() is not None:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_kill_during_batch_then_ingest_again(db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "batch"
    write_reports(directory, REPORTS, RECORDS)
    engine = create_engine(db_url)
    migrate(engine)
    full = RECORDS * (RECORDS + 1) // 2

    for target in (2, 5):  # two crashes at different points of the batch
        proc = _ingest(db_url, directory)
        _kill_after(proc, engine, target)
        assert proc.returncode == -signal.SIGKILL
        for report_id, record_count, rows, messages in _stored(engine):
            # every report is there whole, or not at all
            assert (record_count, rows, messages) == (RECORDS, RECORDS, full), report_id
        assert len(_stored(engine)) < REPORTS  # the kill really interrupted the batch

    proc = _ingest(db_url, directory)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["rejected"] == []
    stored = _stored(engine)
    assert [r[0] for r in stored] == [f"r-{n}" for n in range(REPORTS)]
    assert all(r[1:] == (RECORDS, RECORDS, full) for r in stored)
    assert summary["reports_ingested"] + summary["reports_duplicate"] == REPORTS
    engine.dispose()
