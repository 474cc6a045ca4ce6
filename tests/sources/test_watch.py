"""Watched directories and Maildir folders: settle time, done/error folders, keep mode and idempotence."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.sources.watch import AfterIngest, DirectoryWatcher, WatchConfig
from dmarcpilot.store.schema import aggregate_reports
from tests.hostile_inputs import garbage
from tests.reportgen import aggregate_xml
from tests.sources.mailgen import report_mail


def stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(aggregate_reports)).scalar_one())


def write_old(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    past = time.time() - 60
    os.utime(path, (past, past))
    return path


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_directory_files_move_to_done_or_error_after_ingest(tmp_path: Path, store: sa.Engine) -> None:
    inbox = tmp_path / "inbox"
    write_old(inbox / "a.xml", aggregate_xml("w-1", 2))
    write_old(inbox / "sub" / "b.xml.gz", gzip.compress(aggregate_xml("w-2", 2)))
    write_old(inbox / "junk.bin", garbage())
    (inbox / "copying.xml").write_bytes(aggregate_xml("w-3", 2))  # just written: not settled yet

    watcher = DirectoryWatcher(WatchConfig(inbox, settle_seconds=5))
    result = watcher.poll(Ingestor(store), IngestSummary())
    assert (result.ingested, result.failed) == (2, 1)
    assert files(inbox) == ["copying.xml", "done/a.xml", "done/sub/b.xml.gz", "error/junk.bin"]
    assert stored(store) == 2

    past = time.time() - 60
    os.utime(inbox / "copying.xml", (past, past))
    write_old(inbox / "a.xml", aggregate_xml("w-1", 2))  # the same file dropped again
    result = watcher.poll(Ingestor(store), IngestSummary())
    assert result.ingested == 2
    assert files(inbox) == ["done/a.xml", "done/a.xml.1", "done/copying.xml", "done/sub/b.xml.gz",
                            "error/junk.bin"]
    assert stored(store) == 3


def test_maildir_new_and_cur_are_read_tmp_is_not(tmp_path: Path, store: sa.Engine) -> None:
    maildir = tmp_path / "Maildir"
    for part in ("cur", "new", "tmp"):
        (maildir / part).mkdir(parents=True)
    (maildir / "new" / "1.M1.host").write_bytes(report_mail("md-1"))
    (maildir / "cur" / "2.M2.host:2,S").write_bytes(report_mail("md-2"))
    (maildir / "tmp" / "3.M3.host").write_bytes(b"From: half-written\r\n")
    result = DirectoryWatcher(WatchConfig(maildir)).poll(Ingestor(store), IngestSummary())
    assert result.ingested == 2  # no settle time: a Maildir delivery is complete in new/
    assert files(maildir) == ["done/1.M1.host", "done/2.M2.host:2,S", "tmp/3.M3.host"]


def test_keep_mode_leaves_files_and_relies_on_idempotence(tmp_path: Path, store: sa.Engine) -> None:
    inbox = tmp_path / "inbox"
    write_old(inbox / "a.xml", aggregate_xml("k-1", 2))
    write_old(inbox / "b.xml", aggregate_xml("k-2", 2))
    config = WatchConfig(inbox, after=AfterIngest.KEEP)
    watcher = DirectoryWatcher(config)
    assert watcher.poll(Ingestor(store), IngestSummary()).ingested == 2
    summary = IngestSummary()
    assert watcher.poll(Ingestor(store), summary).ingested == 0
    assert summary.inputs == 0  # unchanged files are not even read again
    assert files(inbox) == ["a.xml", "b.xml"]

    restarted = IngestSummary()  # a new process knows nothing: the store does
    DirectoryWatcher(config).poll(Ingestor(store), restarted)
    assert (restarted.inputs, restarted.inputs_duplicate, restarted.reports_ingested) == (2, 2, 0)
    assert stored(store) == 2


def test_stop_between_files(tmp_path: Path, store: sa.Engine) -> None:
    inbox = tmp_path / "inbox"
    for n in range(3):
        write_old(inbox / f"{n}.xml", aggregate_xml(f"s-{n}", 1))
    result = DirectoryWatcher(WatchConfig(inbox)).poll(Ingestor(store), IngestSummary(), lambda: stored(store) >= 1)
    assert (result.ingested, result.interrupted) == (1, True)
    assert files(inbox) == ["1.xml", "2.xml", "done/0.xml"]
