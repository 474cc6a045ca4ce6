"""``dmarcpilot run`` as a real process: every source at once, IDLE, SIGHUP reload, SIGTERM, and the SMTP kill test."""

from __future__ import annotations

import json
import signal
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import PG_ADMIN_URL
from tests.reportgen import aggregate_xml
from tests.service import proc
from tests.sources import dovecot as dv
from tests.sources.mailgen import report_mail, report_mails


@pytest.fixture
def dovecot() -> Iterator[dv.Dovecot]:
    with dv.running_dovecot() as server:
        yield server


def write_config(path: Path, *, spool: Path, smtp_port: int, watch: list[Path], imap_port: int | None = None,
                 password_file: Path | None = None, alerts_interval: float = 0) -> None:
    imap = "" if imap_port is None else f"""
[imap.reports]
url = "imap://{dv.USER}@127.0.0.1:{imap_port}/INBOX"
security = "plain"
password_file = "{password_file}"
batch_size = 10
"""
    watches = "".join(f'\n[[watch]]\npath = "{w}"\nsettle_seconds = 0\n' for w in watch)
    path.write_text(f"""
[service]
poll_interval = 120
rdns_interval = 0
spf_refresh_interval = 0
alerts_interval = {alerts_interval}
reconnect_delay = 1
{imap}
[receiver]
host = "127.0.0.1"
port = {smtp_port}
recipients = ["rua@example.com"]
spool_dir = "{spool}"
max_message_bytes = 1048576
{watches}""")


def drop(directory: Path, count: int, prefix: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (directory / f"{prefix}-{n}.xml").write_bytes(aggregate_xml(f"{prefix}-{n}", 2, first_ip=0x0B000001 + 10 * n))


def test_run_serves_every_source_reloads_on_sighup_and_stops_on_sigterm(
        dovecot: dv.Dovecot, sqlite_url: str, tmp_path: Path) -> None:
    password = tmp_path / "imap-password"
    password.write_text(dv.PASSWORD)
    conf, smtp_port = tmp_path / "dmarcpilot.toml", dv.free_port()
    drop(tmp_path / "watched", 3, "watched")
    write_config(conf, spool=tmp_path / "spool", smtp_port=smtp_port, watch=[tmp_path / "watched"],
                 imap_port=dovecot.port, password_file=password, alerts_interval=0.5)
    service = proc.start(sqlite_url, "run", "--config", str(conf), "--format", "json", log=tmp_path / "run.log")
    try:
        proc.wait_until(lambda: proc.port_open(smtp_port), 30, "the SMTP receiver")
        proc.wait_until(lambda: proc.stored_reports(sqlite_url) == 3, 30, "the watched files")
        # the first IMAP pass has created the archive folder; the service now waits in IDLE
        proc.wait_until(lambda: dovecot.has_folder("dmarcpilot-archive"), 30, "the first IMAP pass")
        time.sleep(0.5)
        started = time.monotonic()
        dovecot.append("INBOX", report_mails(20, prefix="run-imap"))
        proc.wait_until(lambda: proc.stored_reports(sqlite_url) == 23, 30, "the IMAP mails")
        assert time.monotonic() - started < 30  # far below poll_interval = 120 s: IDLE woke the service

        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            for n in range(5):
                smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], report_mail(f"run-smtp-{n}"))
        proc.wait_until(lambda: proc.stored_reports(sqlite_url) == 28, 30, "the SMTP mails")

        drop(tmp_path / "second", 2, "second")  # a new watched directory, announced by SIGHUP
        write_config(conf, spool=tmp_path / "spool", smtp_port=smtp_port, watch=[tmp_path / "watched",
                     tmp_path / "second"], imap_port=dovecot.port, password_file=password, alerts_interval=0.5)
        service.send_signal(signal.SIGHUP)
        proc.wait_until(lambda: proc.stored_reports(sqlite_url) == 30, 30, "the directory added by SIGHUP")

        service.send_signal(signal.SIGTERM)
        out, _ = service.communicate(timeout=30)
    finally:
        proc.kill(service)
    assert service.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]
    stats = json.loads(out)
    assert (stats["imap_archived"], stats["spool_ingested"], stats["files_ingested"]) == (20, 5, 5)
    assert stats["reloads"] == 1
    assert stats["reports_ingested"] == 30
    assert stats["jobs"].get("alerts", 0) >= 1 and not stats["job_failures"]
    assert dovecot.count("INBOX") == 0
    assert list((tmp_path / "spool" / "new").iterdir()) == []


def test_a_bad_configuration_on_sighup_keeps_the_old_one(sqlite_url: str, tmp_path: Path) -> None:
    conf, smtp_port = tmp_path / "dmarcpilot.toml", dv.free_port()
    write_config(conf, spool=tmp_path / "spool", smtp_port=smtp_port, watch=[])
    service = proc.start(sqlite_url, "run", "--config", str(conf), "--format", "json", log=tmp_path / "run.log")
    try:
        proc.wait_until(lambda: proc.port_open(smtp_port), 30, "the SMTP receiver")
        conf.write_text("[receiver\nbroken = ")
        service.send_signal(signal.SIGHUP)
        time.sleep(1)
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], report_mail("after-bad-reload"))
        proc.wait_until(lambda: proc.stored_reports(sqlite_url) == 1, 30, "the mail after a failed reload")
        service.send_signal(signal.SIGTERM)
        out, _ = service.communicate(timeout=30)
    finally:
        proc.kill(service)
    assert service.returncode == 0
    assert json.loads(out)["reloads"] == 0
    assert "configuration not reloaded" in (tmp_path / "run.log").read_text()


def test_smtp_acknowledged_messages_survive_sigkill(sqlite_url: str, tmp_path: Path) -> None:
    """Nothing lost: every message answered 250 is stored, though the process died right after the 250."""
    conf, smtp_port, spool = tmp_path / "dmarcpilot.toml", dv.free_port(), tmp_path / "spool"
    write_config(conf, spool=spool, smtp_port=smtp_port, watch=[])
    messages = 12
    left_in_spool = 0
    for n in range(messages):
        service = proc.start(sqlite_url, "run", "--config", str(conf), log=tmp_path / "run.log")
        try:
            proc.wait_until(lambda: proc.port_open(smtp_port), 30, "the SMTP receiver")
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
                smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], report_mail(f"kill-{n}"))
                assert proc.kill(service)  # right after the 250, before the worker got to it (usually)
        finally:
            proc.kill(service)
        left_in_spool += bool(list((spool / "new").iterdir()))
    assert left_in_spool > 0, "every message was ingested before the kill: the restart path was not exercised"

    service = proc.start(sqlite_url, "run", "--config", str(conf), "--format", "json", log=tmp_path / "run.log")
    try:
        proc.wait_until(lambda: proc.stored_reports(sqlite_url) == messages, 60, "the spool drained at restart")
        service.send_signal(signal.SIGTERM)
        service.communicate(timeout=30)
    finally:
        proc.kill(service)
    assert proc.stored_reports(sqlite_url) == messages
    assert list((spool / "new").iterdir()) == []
    assert list((spool / "error").iterdir()) == []


def test_a_store_outage_pauses_collection_and_loses_nothing(pg_url: str, tmp_path: Path) -> None:
    """PostgreSQL refuses connections for a while: the service keeps accepting mail, stores it when it is back."""
    conf, smtp_port, spool = tmp_path / "dmarcpilot.toml", dv.free_port(), tmp_path / "spool"
    write_config(conf, spool=spool, smtp_port=smtp_port, watch=[])
    name = sa.engine.make_url(pg_url).database
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    service = proc.start(pg_url, "run", "--config", str(conf), "--format", "json", log=tmp_path / "run.log")
    try:
        proc.wait_until(lambda: proc.port_open(smtp_port), 30, "the SMTP receiver")
        with admin.connect() as conn:  # the outage: no new connections, the open ones cut
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                                 (name,))
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
            for n in range(3):
                smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], report_mail(f"outage-{n}"))
        proc.wait_until(lambda: "the store is unavailable" in (tmp_path / "run.log").read_text(), 30,
                        "the outage to be noticed")
        assert service.poll() is None  # still running
        assert len(list((spool / "new").iterdir())) == 3  # acknowledged, kept in the spool
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        proc.wait_until(lambda: proc.stored_reports(pg_url) == 3, 60, "the spool drained after the outage")
        service.send_signal(signal.SIGTERM)
        out, _ = service.communicate(timeout=30)
    finally:
        proc.kill(service)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()
    assert service.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]
    stats = json.loads(out)
    assert stats["store_outages"] >= 1
    assert (stats["spool_ingested"], stats["spool_failed"], stats["rejected"]) == (3, 0, 0)
    assert list((spool / "new").iterdir()) == [] and list((spool / "error").iterdir()) == []
