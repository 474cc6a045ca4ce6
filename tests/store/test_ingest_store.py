"""The pipeline on both backends: stored values, idempotency, archive, quarantine."""

from __future__ import annotations

import base64
import gzip
import io
import json
import shutil
import zipfile
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.ingest.pipeline import Ingestor, reingest_quarantined
from dmarcpilot.reports.limits import Limits
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.archive import read_blob
from dmarcpilot.store.schema import aggregate_records, aggregate_reports, blobs, inputs, quarantine
from tests.conftest import CORPUS
from tests.reportgen import aggregate_xml

SAMPLE = CORPUS / "aggregate" / "rfc9990-example.net!example.com!1700000000!1700086399.xml"


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_stored_records_match_the_golden_file(engine: sa.Engine) -> None:
    summary = Ingestor(engine).run(walk_paths([str(SAMPLE)]))
    assert (summary.reports_ingested, summary.records, summary.messages) == (1, 2, 7)
    golden = json.loads(SAMPLE.with_name(SAMPLE.name + ".expected.json").read_text())["reports"][0]
    with engine.connect() as conn:
        report = conn.execute(sa.select(aggregate_reports)).one()
        rows = conn.execute(sa.select(aggregate_records).order_by(aggregate_records.c.rec_no)).all()
    assert (report.org_name, report.report_id, report.domain) == ("example.net", "dmarcbis-test-report-001",
                                                                  "example.com")
    assert report.begin_at.isoformat() == golden["begin"]
    assert (report.np, report.testing, report.discovery_method) == ("reject", True, "treewalk")
    assert (report.record_count, report.message_count) == (2, 7)
    for row, want in zip(rows, golden["records"], strict=True):
        assert row.source_ip == want["source_ip"]
        assert row.count == want["count"]
        assert (row.disposition, row.dkim, row.spf) == (want["disposition"], want["dkim"], want["spf"])
        assert row.reasons == want["reasons"]
        assert row.dkim_results == want["dkim_results"]
        assert row.spf_results == want["spf_results"]


def test_same_report_in_every_envelope_is_stored_once(engine: sa.Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    xml = aggregate_xml("envelopes-1", 50)
    (tmp_path / "a.xml").write_bytes(xml)
    (tmp_path / "b.xml.gz").write_bytes(gzip.compress(xml))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("report.xml", xml)
    (tmp_path / "c.zip").write_bytes(buf.getvalue())
    mail = (b"From: dmarc@reporter.example\r\nTo: rua@example.com\r\nSubject: Report\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: application/gzip; name=r.xml.gz\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    (tmp_path / "d.eml").write_bytes(mail + base64.encodebytes(gzip.compress(xml)))
    summary = Ingestor(engine).run(walk_paths([str(tmp_path)]))
    assert summary.reports_ingested == 1
    assert summary.reports_duplicate == 3
    assert summary.rejected == []
    assert _count(engine, aggregate_reports) == 1
    assert _count(engine, aggregate_records) == 50
    assert _count(engine, blobs) == 4  # every original is archived


def test_reingesting_is_a_no_op(engine: sa.Engine) -> None:
    first = Ingestor(engine).run(walk_paths([str(CORPUS)]))
    assert first.reports_ingested > 20
    tables = (aggregate_reports, aggregate_records, blobs, inputs, quarantine)
    counts = [_count(engine, t) for t in tables]
    second = Ingestor(engine).run(walk_paths([str(CORPUS)]))
    assert second.reports_ingested == 0
    assert second.inputs_duplicate == second.inputs
    assert second.reports_duplicate == first.reports_ingested + first.reports_duplicate
    assert [_count(engine, t) for t in tables] == counts


def test_archive_keeps_the_original_bytes(engine: sa.Engine, tmp_path: Path) -> None:
    big = aggregate_xml("big-1", 20_000)  # several archive chunks
    path = tmp_path / "big.xml"
    path.write_bytes(big)
    Ingestor(engine).run(walk_paths([str(path)]))
    with engine.connect() as conn:
        sha, chunks = conn.execute(sa.select(blobs.c.sha256, blobs.c.chunks)).one()
    assert read_blob(engine, sha) == big
    assert chunks >= 1


def test_quarantine_then_reingest_after_upgrade(engine: sa.Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    """A part rejected by today's limits is kept and stored once the limits allow it."""
    xml = aggregate_xml("later-1", 400)
    (tmp_path / "r.xml.gz").write_bytes(gzip.compress(xml))
    shutil.copy(SAMPLE, tmp_path / "good.xml")
    strict = Limits(max_decompressed_bytes=len(xml) // 2)
    summary = Ingestor(engine, limits=strict).run(walk_paths([str(tmp_path)]))
    assert summary.reports_ingested == 1
    assert [r.path for r in summary.rejected] == [f"{tmp_path / 'r.xml.gz'} > gunzip"]
    assert "limit" in summary.rejected[0].reason
    again = reingest_quarantined(Ingestor(engine))
    assert again.reports_ingested == 1 and again.rejected == []
    with engine.connect() as conn:
        open_entries = conn.execute(
            sa.select(sa.func.count()).select_from(quarantine).where(quarantine.c.resolved_at.is_(None))
        ).scalar_one()
    assert open_entries == 0
    assert _count(engine, aggregate_reports) == 2


def test_a_bad_report_in_a_zip_does_not_stop_the_good_one(engine: sa.Engine, tmp_path: Path) -> None:
    tmp_path = tmp_path / "in"
    tmp_path.mkdir()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("good.xml", aggregate_xml("zip-good", 3))
        zf.writestr("bad.xml", aggregate_xml("zip-bad", 3)[:-40])
    (tmp_path / "mixed.zip").write_bytes(buf.getvalue())
    summary = Ingestor(engine).run(walk_paths([str(tmp_path)]))
    assert summary.reports_ingested == 1
    assert len(summary.rejected) == 1
    assert summary.rejected[0].path.endswith("mixed.zip > bad.xml")
    assert _count(engine, aggregate_records) == 3  # nothing of the bad one
