"""Settings: TOML file < DMARCPILOT_* environment < flags; typed values; one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dmarcpilot.cli.common import Settings
from dmarcpilot.cli.main import cli
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.errors import ConfigError
from dmarcpilot.service.jobs import JobKind, Schedule, run_alert_checks, run_analyses, run_rdns, run_spf_refresh
from dmarcpilot.settings import load_settings
from dmarcpilot.sources.imap import ImapAuth, ImapSecurity
from dmarcpilot.sources.watch import AfterIngest
from dmarcpilot.store.db import create_engine, migrate
from tests.dnsfake import FakeZone, serve

CONFIG = """
db = "sqlite:////var/lib/dmarcpilot/file.db"

[service]
poll_interval = 60
alerts_interval = 0
nameservers = ["127.0.0.1:5353"]

[imap.reports]
url = "imaps://rua%40example.com@mail.example.com/DMARC"
password_file = "/run/secrets/imap"

[imap.m365]
host = "outlook.office365.com"
user = "dmarc@example.org"
oauth2_token_file = "/run/secrets/token"
archive_folder = "Processed"

[receiver]
port = 25
host = "0.0.0.0"
recipients = ["rua@example.com", "@reports.example.org"]
spool_dir = "/var/spool/dmarcpilot"

[[watch]]
path = "/srv/reports"
after = "keep"

[notify]
host = "smtp.example.com"
from = "dmarcpilot@example.com"
"""


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "dmarcpilot.toml"
    path.write_text(text)
    return path


def test_the_file_gives_typed_settings(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path), environ={})
    assert settings.db_url == "sqlite:////var/lib/dmarcpilot/file.db"
    assert (settings.service.poll_interval, settings.service.alerts_interval) == (60.0, 0.0)
    assert settings.service.rdns_interval == 3600.0  # default
    assert settings.service.nameservers == ("127.0.0.1:5353",)
    m365, reports = settings.imap
    assert (reports.name, reports.user, reports.host, reports.folder) == ("reports", "rua@example.com",
                                                                          "mail.example.com", "DMARC")
    assert (reports.security, reports.auth, reports.secret.file) == (ImapSecurity.TLS, ImapAuth.PASSWORD,
                                                                     Path("/run/secrets/imap"))
    assert (m365.auth, m365.archive_folder, m365.effective_port) == (ImapAuth.XOAUTH2, "Processed", 993)
    assert settings.receiver is not None and settings.receiver.accepts("x@REPORTS.example.org")
    assert settings.receiver.port == 25 and not settings.receiver.accepts("x@example.com")
    assert settings.watch[0].after is AfterIngest.KEEP
    assert (settings.notify.host, settings.notify.sender, settings.notify.port) == ("smtp.example.com",
                                                                                    "dmarcpilot@example.com", 25)


def test_environment_overrides_the_file_and_secrets_come_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "imap-password"
    secret.write_text("s3cret\n")
    env = {"DMARCPILOT_SERVICE_POLL_INTERVAL": "5", "DMARCPILOT_IMAP_REPORTS_PASSWORD_FILE": str(secret),
           "DMARCPILOT_IMAP_REPORTS_BATCH_SIZE": "7", "DMARCPILOT_IMAP_REPORTS_IDLE": "no",
           "DMARCPILOT_IMAP_NEW_ONE_URL": "imap://u@h/INBOX", "DMARCPILOT_IMAP_NEW_ONE_SECURITY": "starttls",
           "DMARCPILOT_RECEIVER_RECIPIENTS": "a@example.com, b@example.com", "DMARCPILOT_DB": "sqlite:///env.db",
           "DMARCPILOT_SMTP_PORT": "587", "DMARCPILOT_WATCH": f"/a{os.pathsep}/b", "OTHER": "ignored"}
    settings = load_settings(write(tmp_path), environ=env)
    assert settings.service.poll_interval == 5.0
    assert settings.db_url == "sqlite:///env.db"
    by_name = {a.name: a for a in settings.imap}
    assert by_name["reports"].secret.reveal() == "s3cret"
    assert (by_name["reports"].batch_size, by_name["reports"].use_idle) == (7, False)
    assert (by_name["new_one"].host, by_name["new_one"].security) == ("h", ImapSecurity.STARTTLS)
    assert settings.receiver is not None and settings.receiver.recipients == ("a@example.com", "b@example.com")
    assert settings.notify.port == 587
    assert [w.path for w in settings.watch] == [Path("/a"), Path("/b")]


def test_flags_override_environment_which_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, 'db = "sqlite:///from-file.db"\n')
    monkeypatch.delenv("DMARCPILOT_DB", raising=False)
    monkeypatch.setenv("DMARCPILOT_CONFIG", str(path))
    assert Settings.from_env(None).db_url == "sqlite:///from-file.db"
    monkeypatch.setenv("DMARCPILOT_DB", "sqlite:///from-env.db")
    assert Settings.from_env(None).db_url == "sqlite:///from-env.db"
    assert Settings.from_env("sqlite:///from-flag.db").db_url == "sqlite:///from-flag.db"
    (tmp_path / "other").mkdir()
    other = write(tmp_path / "other", 'db = "sqlite:///other.db"\n')
    monkeypatch.delenv("DMARCPILOT_DB")
    assert Settings.from_env(None).with_config(other).db_url == "sqlite:///other.db"


@pytest.mark.parametrize(("text", "message"), [
    ("[service\n", "not valid TOML"),
    ("[service]\npoll_interval = 'often'\n", "service.poll_interval"),
    ("[imap.x]\nhost = 'h'\n", "imap.x.user"),
    ("[imap.x]\nurl = 'imap://u@h/'\nsecurity = 'ssl3'\n", "ssl3"),
    ("[receiver]\nspool_dir = '/s'\n", "recipient"),
    ("[[watch]]\nafter = 'move'\n", "path is required"),
    ("[imap.x]\nurl = 'imap://u@h/'\nidle = 'maybe'\n", "boolean"),
])
def test_errors_name_the_setting(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_missing_file_is_a_one_line_error(tmp_path: Path, sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "run", "--config", str(tmp_path / "none.toml")])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "cannot read the configuration" in str(result.exception)


def test_run_without_sources_refuses_to_start(tmp_path: Path, sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "run", "--config", str(write(tmp_path, ""))])
    assert isinstance(result.exception, ConfigError)
    assert "nothing to collect" in str(result.exception)


def test_jobs_run_on_an_empty_store_and_the_schedule_honours_intervals(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    migrate(engine)
    with serve(FakeZone()) as port:  # a DNS server on loopback that knows no name
        settings = load_settings(None, environ={"DMARCPILOT_SERVICE_RDNS_INTERVAL": "0",
                                                "DMARCPILOT_SERVICE_NAMESERVERS": f"127.0.0.1:{port}"})
        assert run_rdns(engine, settings, [])["looked_up"] == 0
        includes = {i for s in load_catalogue().services.values() for i in s.spf_includes}
        # no domain to publish; every catalogue include tried, none resolves here
        assert run_spf_refresh(engine, settings, []) == {"domains": 0, "changes": {}, "ranges_failed": len(includes)}
    assert run_alert_checks(engine, settings, []) == {"domains": 0, "sent": {}}
    assert run_analyses(engine, settings, []) == {"domains": 0, "computed": {}}
    schedule = Schedule()
    schedule.configure(settings, now=0.0)
    assert set(schedule.due) == {JobKind.SPF_REFRESH, JobKind.ALERTS, JobKind.ANALYSES}  # rdns_interval = 0: off
    engine.dispose()


def test_no_database_url_in_the_file_leaves_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DMARCPILOT_DB", raising=False)
    assert load_settings(write(tmp_path, "[service]\n"), environ={}).db_url is None
    assert sa.engine.make_url(Settings.from_env(None, config=write(tmp_path, "")).db_url).drivername == "sqlite"
