"""The digest of an analysis: sums worked out by hand, shared through the store, never stale."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmarcpilot.analysis import senders as senders_module
from dmarcpilot.analysis.digest import Digest, digest_of
from dmarcpilot.analysis.senders import analyse, clear_cache, digest, flush_saves, senders, source
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.schema import analysis_snapshots
from tests.analysis.test_identify import _setup
from tests.analysis.test_incremental import NEW, _ingest
from tests.analysis.test_snapshot import _fields

DAY = date(2023, 11, 15)


@contextmanager
def _no_full_read(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail if a stored analysis is read back whole (a row for every source)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the stored analysis was read back whole")

    with monkeypatch.context() as patch:
        patch.setattr(senders_module, "decode", refuse)
        patch.setattr(senders_module, "read", refuse)
        yield


def test_the_sums_of_the_test_report(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    d = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    # the report's nine rows (tests/analysis/test_identify.REPORT): 50+30+5+12+40+4+8+6+2 messages
    assert (d.messages, d.sources) == (157, 9)
    # passes by DKIM: 192.0.2.1 (50), 198.51.100.9 (12), 192.0.2.200 (8); by SPF only 192.0.2.200
    assert (d.dmarc_pass, d.dkim_aligned, d.spf_aligned) == (70, 70, 8)
    # approved: ESP One's 192.0.2.1 (50) and the approved network's 192.0.2.200 (8), all passing
    assert (d.approved_messages, d.approved_pass) == (58, 58)
    assert d.classes == {
        "approved": 58,
        "suspicious": 5 + 40 + 4,  # 192.0.2.3 (failing DKIM proves nothing) and the two 203.0.113.x
        "known-but-unapproved": 30 + 6 + 2,  # ESP Two's two sources, Cheap Cloud's one
        "forwarder": 12,  # 198.51.100.9: aligned DKIM passes, SPF fails
    }
    # the test IP data places 203.0.113.0/24 in RU and 192.0.2.5 in US, nothing else
    assert d.countries == [{"country": "??", "messages": 111, "sources": 6},
                           {"country": "RU", "messages": 44, "sources": 2},
                           {"country": "US", "messages": 2, "sources": 1}]
    assert d.country_count == 2
    assert [s["ip"] for s in d.top_sources][:3] == ["192.0.2.1", "203.0.113.5", "192.0.2.2"]
    assert [f["ip"] for f in d.forwarders] == ["198.51.100.9"] and d.forwarders_total == 1
    assert d.rates()["dmarc_pass_rate"] == round(100 * 70 / 157, 2)  # rates are percentages to 2 places


def test_it_equals_the_figures_taken_from_the_sources(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    rows = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    d = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert d.senders == senders(rows)
    assert d.top_sources == [r.to_dict() for r in rows]
    assert Digest.from_bytes(d.to_bytes()) == d


def test_another_process_reads_the_stored_digest_without_the_sources(
        engine: sa.Engine, tmp_path: Path, computed: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    made = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    flush_saves()
    clear_cache()  # as in another process: only the store is shared
    with _no_full_read(monkeypatch):  # the digest is there
        assert digest(engine, "example.edu", 2, ipdb, catalogue, DAY) == made  # type: ignore[arg-type]
    assert len(computed) == 1


def test_a_snapshot_without_its_digest_gets_one_and_a_damaged_one_is_made_again(
        engine: sa.Engine, tmp_path: Path, computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    made = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    flush_saves()
    for damage in (None, b"not zlib", zlib.compress(b'[99, {}]')):
        with engine.begin() as conn:  # as written before migration 0012, or damaged
            conn.execute(sa.update(analysis_snapshots).values(digest=damage))
        clear_cache()
        assert digest(engine, "example.edu", 2, ipdb, catalogue, DAY) == made  # type: ignore[arg-type]
        flush_saves()
        with engine.connect() as conn:
            kept = conn.execute(sa.select(analysis_snapshots.c.digest)).scalar()
        assert kept is not None and Digest.from_bytes(bytes(kept)) == made
    assert len(computed) == 1  # each time from the kept sources, never from the rollups


def test_a_decision_changes_it_in_every_process(engine: sa.Engine, tmp_path: Path) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    flush_saves()
    clear_cache()
    decide(engine, "example.edu", Subject.from_text("esp-two"), Decision.APPROVED, "alice", "bulk mail")
    after = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert (after.approved_messages, after.approved_pass) == (58 + 36, 58)  # ESP Two's 36 messages all fail
    assert after == digest_of(analyse(engine, "example.edu", 2, ipdb, catalogue, DAY))  # type: ignore[arg-type]


def test_after_new_reports_the_digest_is_brought_up_to_date_without_the_other_sources(
        engine: sa.Engine, tmp_path: Path, computed: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    flush_saves()
    _ingest(engine, tmp_path / "more", "new.xml", NEW)
    clear_cache()  # another process
    with _no_full_read(monkeypatch):  # only the touched sources are read back
        advanced = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 1
    flush_saves()
    clear_cache()
    kept = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]  # the updated snapshot
    assert len(computed) == 1
    clear_cache(engine)
    fresh = analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 2
    assert [_fields(r) for r in kept] == [_fields(r) for r in fresh]
    assert advanced == digest_of(fresh)
    # by hand: the new report adds 7 + 3 + 5 + 2 messages, and 203.0.113.77 (signed by ESP One: approved)
    assert (advanced.messages, advanced.sources) == (157 + 17, 10)
    assert (advanced.approved_messages, advanced.approved_pass) == (58 + 7 + 5, 58 + 7 + 5)


def test_one_source_is_read_back_alone(engine: sa.Engine, tmp_path: Path, computed: list[int],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    rows = {r.evidence.ip: r for r in analyse(engine, "example.edu", 2, ipdb, catalogue, DAY)}  # type: ignore[arg-type]
    assert _fields(source(engine, "example.edu", 2, "192.0.2.4", ipdb, catalogue, DAY)) == _fields(  # type: ignore[arg-type]
        rows["192.0.2.4"])  # from this process's analysis
    flush_saves()
    clear_cache()  # another process
    with _no_full_read(monkeypatch):  # only the one source is read back
        found = source(engine, "example.edu", 2, "192.0.2.4", ipdb, catalogue, DAY)  # type: ignore[arg-type]
        assert source(engine, "example.edu", 2, "192.0.2.99", ipdb, catalogue, DAY) is None  # type: ignore[arg-type]
    assert found is not None and _fields(found) == _fields(rows["192.0.2.4"])
    assert found.attribution.service is catalogue.services["esp-two"]  # type: ignore[attr-defined]
    assert len(computed) == 1


def test_approving_a_network_classifies_the_kept_sources_again(engine: sa.Engine, tmp_path: Path,
                                                               computed: list[int]) -> None:
    ipdb, catalogue = _setup(engine, tmp_path)
    digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    flush_saves()
    clear_cache()
    decide(engine, "example.edu", Subject.from_text("203.0.113.0/24"), Decision.APPROVED, "alice", "our VPS")
    after = digest(engine, "example.edu", 2, ipdb, catalogue, DAY)  # type: ignore[arg-type]
    assert len(computed) == 1
    # by hand: 203.0.113.5 (40 messages) and 203.0.113.6 (4) join the 58 approved; none of theirs passes
    assert (after.approved_messages, after.approved_pass) == (58 + 44, 58)
    flush_saves()
    clear_cache(engine)
    assert after == digest_of(analyse(engine, "example.edu", 2, ipdb, catalogue, DAY))  # type: ignore[arg-type]
    assert len(computed) == 2
