"""Nothing lost, nothing doubled: SIGKILL ``dmarcpilot fetch`` again and again while it collects 500 mails."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.service import proc
from tests.sources import dovecot as dv
from tests.sources.mailgen import hostile_mails, report_mails

REPORTS = 500


@pytest.mark.slow
def test_sigkill_during_imap_fetch_loses_and_doubles_nothing(sqlite_url: str, tmp_path: Path) -> None:
    password = tmp_path / "password"
    password.write_text(dv.PASSWORD)
    hostile = [m for _, m in hostile_mails()]
    rng = random.Random(7)
    with dv.running_dovecot() as server:
        mails = report_mails(REPORTS, prefix="kill") + hostile
        rng.shuffle(mails)
        server.append("INBOX", mails)
        args = ["fetch", f"imap://{dv.USER}@127.0.0.1:{server.port}/INBOX", "--plain", "--password-file",
                str(password), "--batch-size", "20", "--format", "json"]
        interrupted = 0
        for _ in range(30):
            # Kill once this run has moved at least one batch, a random moment into the next one: every run
            # makes progress and is cut mid-work, however fast the machine is.
            archived = server.count("dmarcpilot-archive")
            fetch = proc.start(sqlite_url, *args, log=tmp_path / "fetch.log")
            deadline = time.monotonic() + 120
            while fetch.poll() is None and server.count("dmarcpilot-archive") == archived \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.4))
            interrupted += proc.kill(fetch)
            if fetch.returncode != -9:  # it finished before the kill
                break
        assert interrupted >= 3, "the process was hardly ever interrupted: the test proves nothing"
        archived_before_final = server.count("dmarcpilot-archive")
        assert archived_before_final > 0

        final = proc.start(sqlite_url, *args, log=tmp_path / "fetch.log")
        out, _ = final.communicate(timeout=300)
        assert final.returncode in (0, 3), (tmp_path / "fetch.log").read_text()[-3000:]
        summary = json.loads(out)["ingest"]

        assert server.count("INBOX") == 0
        assert server.count("dmarcpilot-archive") == REPORTS
        assert server.count("dmarcpilot-error") == len(hostile)
    # 500 reports plus the good one beside a bad one in the hostile set, each exactly once
    assert proc.stored_reports(sqlite_url) == REPORTS + 1
    assert summary["reports_ingested"] + summary["reports_duplicate"] <= REPORTS + 1
