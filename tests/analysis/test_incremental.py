"""A kept analysis brought up to date with new reports equals the analysis computed afresh."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.analysis.incremental import advance
from dmarcpilot.analysis.senders import analyse, clear_cache, flush_saves
from dmarcpilot.analysis.snapshot import decode, window_name
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.snapshots import load_latest_snapshot
from tests.analysis.test_identify import _rec, _setup
from tests.analysis.test_snapshot import _fields

DAY = date(2023, 11, 15)


def _report(report_id: str, begin: int, records: str) -> bytes:
    return (f"""<?xml version="1.0"?><feedback><report_metadata><org_name>yahoo.com</org_name>
<report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
</report_metadata><policy_published><domain>example.edu</domain><p>none</p></policy_published>"""
            + records + "</feedback>").encode()


# existing sources with more mail and new evidence, a new source, and one signed by ESP One for the first time
NEW = _report("y-2", 1_700_000_000, (
    _rec("192.0.2.1", 7, "pass", "pass", dkim_d="esp-one.example", spf_d="example.edu")
    + _rec("192.0.2.2", 3, "fail", "fail", env="bounce.esp-two.example", spf_d="bounce.esp-two.example",
           spf_r="fail")
    + _rec("203.0.113.77", 5, "pass", "fail", dkim_d="esp-one.example")
    + _rec("203.0.113.6", 2, "fail", "fail", env="list.example", spf_d="list.example")))
OLD = _report("y-old", 1_600_000_000, _rec("198.51.100.200", 9, "fail", "fail"))  # 2020: outside the window


def _ingest(engine: sa.Engine, directory: Path, name: str, data: bytes) -> None:
    directory.mkdir(exist_ok=True)
    (directory / name).write_bytes(data)
    Ingestor(engine).run(walk_paths([str(directory / name)]))


def test_new_reports_are_folded_in_and_equal_a_fresh_computation(
        engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    before = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    _ingest(engine, tmp_path / "more", "new.xml", NEW)
    _ingest(engine, tmp_path / "more", "old.xml", OLD)
    clear_cache()  # another process: only the store's analysis is known
    advanced = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 1  # the first analysis only: the second was brought up to date
    flush_saves()
    stored = decode(load_latest_snapshot(engine, "example.edu", window_name(2, date(2023, 11, 14), None)) or b"",
                    catalogue)  # type: ignore[arg-type]
    assert stored is not None and [_fields(r) for r in stored] == [_fields(r) for r in advanced]  # items reused
    clear_cache(engine)
    fresh = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 2
    assert [_fields(r) for r in advanced] == [_fields(r) for r in fresh]
    rows = {r.evidence.ip: r for r in advanced}
    # by hand: 192.0.2.1 had 50 (DKIM pass by esp-one), now 57 of which 57 pass DMARC
    assert (rows["192.0.2.1"].evidence.messages, rows["192.0.2.1"].evidence.dmarc_pass) == (57, 57)
    assert rows["203.0.113.77"].attribution.service.id == "esp-one"  # type: ignore[union-attr]
    # the rollup's rule counts the envelope sender and each SPF result's domain: 2 messages, seen twice
    assert rows["203.0.113.6"].evidence.envelope_domains == {"list.example": 4}
    assert "198.51.100.200" not in rows
    assert len(advanced) == len(before) + 1


def test_a_decision_or_a_report_out_of_order_needs_a_fresh_computation(
        engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    decide(engine, "example.edu", Subject.from_text("esp-two"), Decision.APPROVED, "alice", "bulk mail")
    _ingest(engine, tmp_path / "more", "new.xml", NEW)
    clear_cache()
    analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 2
    # the kept basis says 1 report up to id 1; the store says 3 reports up to id 3 but holds only 2 above id 1
    basis = ["1", "1", "x"]
    assert advance(engine, "example.edu", [], basis, ["3", "4", "x"], DAY, None, lambda s: []) is None
    assert advance(engine, "example.edu", [], basis, ["2", "2", "y"], DAY, None, lambda s: []) is None
    assert advance(engine, "example.edu", [], ["None", "0", "x"], ["2", "2", "x"], DAY, None,
                   lambda s: []) is None
