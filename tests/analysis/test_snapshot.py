"""Analyses shared through the store: equal to a computation, used only for the data they were made of."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.senders import analyse, clear_cache, flush_saves, is_current
from dmarcpilot.analysis.snapshot import decode, encode
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.jobs.analyses import refresh_analyses
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.schema import analysis_snapshots
from dmarcpilot.store.snapshots import save_snapshot
from tests.analysis.test_identify import CATALOGUE, _setup

DAY = date(2023, 11, 15)


def _fields(row: AnalysedSource) -> tuple[Any, ...]:
    ev = row.evidence
    return (ev.ip, ev.messages, ev.dkim_aligned, ev.spf_aligned, ev.dmarc_pass, dict(ev.dkim_pass_domains),
            dict(ev.envelope_domains), dict(ev.spf_pass_domains), row.info, row.ptr, row.ptr_confirmed,
            row.attribution.service.id if row.attribution.service else None, row.attribution.confidence,
            row.attribution.evidence, row.attribution.group, row.sender_class, row.status)


def test_a_new_process_reads_the_stored_analysis_equal_to_the_computed_one(
        engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    first = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 1 and len(first) == 9
    clear_cache()  # as in another process: only the store is shared
    second = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 1
    assert [_fields(r) for r in second] == [_fields(r) for r in first]
    # services are the catalogue's own objects again, not copies
    assert {id(r.attribution.service) for r in second if r.attribution.service} <= {
        id(s) for s in catalogue.services.values()}  # type: ignore[attr-defined]


def test_a_decision_a_new_catalogue_or_other_ip_data_makes_it_stale(
        engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    clear_cache()
    decide(engine, "example.edu", Subject.from_text("esp-two"), Decision.APPROVED, "alice", "bulk mail")
    rows = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    # a decision changes classes and statuses only: the kept sources are classified again, not recomputed
    assert len(computed) == 1
    by_ip = {r.evidence.ip: r for r in rows}
    assert (by_ip["192.0.2.2"].status, by_ip["192.0.2.2"].sender_class.value) == ("approved", "approved")
    assert by_ip["192.0.2.4"].status == "approved"  # ESP Two's other source too
    flush_saves()
    clear_cache(engine)
    fresh = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 2 and [_fields(r) for r in rows] == [_fields(r) for r in fresh]
    (tmp_path / "cat2.toml").write_text(CATALOGUE.replace('"Set a custom', '"Now set a custom'))
    clear_cache()
    analyse(engine, "example.edu", 2, ipdb, load_catalogue([tmp_path / "cat2.toml"]), DAY)  # type: ignore[arg-type]
    assert len(computed) == 3
    clear_cache()
    analyse(engine, "example.edu", 2, type(ipdb)([]), catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 4
    # another window is another snapshot
    clear_cache()
    analyse(engine, "example.edu", 3, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 5


def test_a_damaged_or_foreign_snapshot_is_recomputed(engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    good = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    flush_saves()  # kept in the store (after the answer, in the background)
    with engine.begin() as conn:
        conn.execute(sa.update(analysis_snapshots).values(payload=b"not zlib"))
    clear_cache()
    again = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 2 and [_fields(r) for r in again] == [_fields(r) for r in good]
    # a snapshot naming a service this catalogue does not have is not used either
    assert decode(encode(good), load_catalogue([])) is None
    assert decode(zlib.compress(b'[99, null, [], []]'), catalogue) is None  # type: ignore[arg-type]
    assert decode(zlib.compress(b'[4, null, [], [["192.0.2.1"]]]'), catalogue) is None  # type: ignore[arg-type]


def test_the_job_brings_stale_windows_up_to_date_once(engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    assert not is_current(engine, "example.edu", 30, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    first = refresh_analyses(engine, ipdb, catalogue, windows=(2, 30), today=DAY)  # type: ignore[arg-type]
    assert first == {"domains": 1, "computed": {"example.edu": [2, 30]}}
    assert is_current(engine, "example.edu", 30, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    clear_cache()
    assert refresh_analyses(engine, ipdb, catalogue, windows=(2, 30), today=DAY) == {  # type: ignore[arg-type]
        "domains": 1, "computed": {}}
    decide(engine, "example.edu", Subject.from_text("esp-two"), Decision.REJECTED, "alice", "not ours")
    assert refresh_analyses(engine, ipdb, catalogue, windows=(2, 30), today=DAY)[  # type: ignore[arg-type]
        "computed"] == {"example.edu": [2, 30]}
    assert len(computed) == 2  # classified again after the decision, from the kept analyses


def test_old_windows_are_dropped_when_a_domain_is_saved_again(engine: sa.Engine) -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    save_snapshot(engine, "example.edu", "30:2025-12-01", "v1", b"a", now=now - timedelta(days=9))
    save_snapshot(engine, "example.edu", "30:2026-01-08", "v1", b"b", now=now - timedelta(days=1))
    save_snapshot(engine, "other.example", "30:2025-12-01", "v1", b"c", now=now - timedelta(days=9))
    save_snapshot(engine, "example.edu", "30:2026-01-10", "v2", b"d", now=now)
    save_snapshot(engine, "example.edu", "30:2026-01-10", "v3", b"e", now=now)  # replaced, not added
    with engine.connect() as conn:
        rows = conn.execute(sa.select(analysis_snapshots.c.domain, analysis_snapshots.c.window,
                                      analysis_snapshots.c.version).order_by(analysis_snapshots.c.domain,
                                                                             analysis_snapshots.c.window)).all()
    assert [tuple(r) for r in rows] == [("example.edu", "30:2026-01-08", "v1"), ("example.edu", "30:2026-01-10", "v3"),
                                        ("other.example", "30:2025-12-01", "v1")]
