"""The command line, end to end through click (same code path as the console script)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from tests.conftest import CORPUS

ROOT = Path(__file__).parent.parent.parent
SAMPLES = ROOT / "samples" / "reports"


def run(db_url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_ingest_samples_json_summary(db_url: str) -> None:
    """The README's demo data: every sample is usable; the JSON has the documented keys."""
    code, out = run(db_url, "ingest", "--format", "json", str(SAMPLES))
    assert code == 0, out
    summary = json.loads(out)
    assert set(summary) >= {"reports_ingested", "reports_duplicate", "by_type", "records", "messages", "rejected"}
    # 17 aggregate samples (counted by hand in samples/reports/), one report each;
    # the two LinkedIn failure reports (LF and CRLF) are one report.
    assert summary["by_type"] == {"aggregate": 17, "failure": 4, "smtp_tls": 4}
    assert summary["reports_duplicate"] == 1
    assert summary["rejected"] == []
    # records: 2286 in the large report, 2 in rfc9990-example.net and in usssa, 1 in the 14 others
    assert summary["records"] == 2286 + 2 + 2 + 14

    code, out = run(db_url, "ingest", "--format", "json", str(SAMPLES))
    again = json.loads(out)
    assert code == 0
    assert again["reports_ingested"] == 0
    assert again["reports_duplicate"] == summary["reports_ingested"] + summary["reports_duplicate"]


def test_rejections_set_the_exit_code_and_name_the_file(sqlite_url: str, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(CORPUS / "aggregate" / "veeam.com!example.com!1530133200!1530219600.xml", inbox / "good.xml")
    (inbox / "empty.xml").write_bytes(b"")
    (inbox / "notes.txt").write_text("hello\n")
    code, out = run(sqlite_url, "ingest", "--format", "json", str(inbox))
    summary = json.loads(out)
    assert code == 3
    assert summary["reports_ingested"] == 1
    assert sorted((Path(r["path"]).name, r["reason"]) for r in summary["rejected"]) == [
        ("empty.xml", "empty input"),
        ("notes.txt", "not a report: unrecognised content (not XML, JSON, gzip, zip or mail)"),
    ]
    code, out = run(sqlite_url, "quarantine", "--format", "json")
    assert code == 0
    assert sorted(Path(q["part"]).name for q in json.loads(out)) == ["empty.xml", "notes.txt"]


def test_missing_path_is_a_rejection_not_a_crash(sqlite_url: str, tmp_path: Path) -> None:
    code, out = run(sqlite_url, "ingest", "--format", "json", str(tmp_path / "nope.xml"))
    assert code == 3
    assert json.loads(out)["rejected"][0]["reason"] == "no such file or directory"


def test_reports_lists_and_filters_by_domain(db_url: str) -> None:
    run(db_url, "ingest", "--format", "json", str(SAMPLES))
    code, out = run(db_url, "reports", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 17 + 4 + 4
    code, out = run(db_url, "reports", "--domain", "EXAMPLE.DE", "--format", "json")
    only = json.loads(out)
    assert [(r["kind"], r["org_name"], r["report_id"]) for r in only] == [
        ("aggregate", "ikea.com", "aggr_report_2018_10_05_5bc7e9b4f3e8a")
    ]
    code, out = run(db_url, "reports", "--domain", "company-y.example", "--format", "json")
    assert [(r["kind"], r["org_name"], r["domain"]) for r in json.loads(out)] == [
        ("smtp_tls", "Company-X", "company-y.example")
    ]
    code, out = run(db_url, "reports")
    assert code == 0 and "ikea.com" in out


def test_db_from_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(cli, ["ingest", "--format", "json", str(SAMPLES / "rfc9990-sample.xml")],
                                env={"DMARCPILOT_DB": url})
    assert result.exit_code == 0
    assert (tmp_path / "env.db").exists()


def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dmarcpilot", "--db", "postgresql://nobody@127.0.0.1:1/none", "reports"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("dmarcpilot: error: cannot open the database")
    assert "Traceback" not in proc.stderr


def _leaf_commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    out: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out.update(_leaf_commands(command, f"{prefix}{name} "))
        else:
            out[prefix + name] = command
    return out


COMMANDS = _leaf_commands(cli)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_accepts_format_json(command: str) -> None:
    params = {p.name for p in COMMANDS[command].params}
    assert "fmt" in params


def test_reingest_with_nothing_quarantined(sqlite_url: str) -> None:
    code, out = run(sqlite_url, "reingest", "--format", "json")
    assert code == 0
    assert json.loads(out)["reports_ingested"] == 0


def test_progress_bar_does_not_disturb_json(sqlite_url: str) -> None:
    code, out = run(sqlite_url, "ingest", "--progress", "--format", "json", str(SAMPLES / "rfc8460.json"))
    assert code == 0
    assert json.loads(out)["by_type"]["smtp_tls"] == 1
