"""``dmarcpilot fetch [imap://USER@HOST[:PORT]/FOLDER]``: one pass over a mailbox (or every configured source)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

import click

from dmarcpilot.cli.common import EXIT_OK, EXIT_REJECTED, Settings, emit_json, emit_table, format_option
from dmarcpilot.errors import ConfigError
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.settings import AppSettings
from dmarcpilot.sources.imap import ImapAccount, ImapAuth, ImapSecurity, PassResult, Secret, collect_once
from dmarcpilot.sources.smtp import Spool, drain_spool
from dmarcpilot.sources.watch import DirectoryWatcher


class _StopFlag:
    """SIGTERM / SIGINT: finish the current batch, then stop."""

    def __init__(self) -> None:
        self.raised = False

    def __call__(self) -> bool:
        return self.raised

    def set(self, _signum: int, _frame: FrameType | None) -> None:
        self.raised = True


@contextmanager
def _stop_on_signals() -> Iterator[_StopFlag]:
    flag = _StopFlag()
    previous = {sig: signal.signal(sig, flag.set) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield flag
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _account_from_flags(url: str, security: str | None, password_file: Path | None, token_file: Path | None,
                        options: dict[str, Any]) -> ImapAccount:
    if password_file and token_file:
        raise click.UsageError("give --password-file or --oauth2-token-file, not both")
    if not (password_file or token_file):
        raise click.UsageError("give --password-file or --oauth2-token-file (or env DMARCPILOT_IMAP_PASSWORD_FILE)")
    secret = Secret(file=token_file or password_file)
    auth = ImapAuth.XOAUTH2 if token_file else ImapAuth.PASSWORD
    account = ImapAccount.from_url(url, secret=secret, auth=auth)
    if security is not None:
        account = replace(account, security=ImapSecurity(security))
    return replace(account, **{k: v for k, v in options.items() if v is not None})


def _all_configured(app: AppSettings, ingestor: Ingestor, summary: IngestSummary,
                    stop: _StopFlag) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not app.has_sources:
        raise ConfigError("no source configured: give an imap:// URL, or --config with [imap.*], [receiver] or "
                          "[[watch]] (docs/configuration.md)")
    for account in app.imap:
        out[f"imap:{account.label}"] = _pass_dict(collect_once(account, ingestor, summary, stop))
    if app.receiver is not None:
        result = drain_spool(Spool(app.receiver.spool_dir).prepare(), ingestor, summary, stop)
        out["spool"] = {"ingested": result.ingested, "failed": result.failed, "interrupted": result.interrupted}
    for config in app.watch:
        watched = DirectoryWatcher(config).poll(ingestor, summary, stop)
        out[f"watch:{config.path}"] = {"ingested": watched.ingested, "failed": watched.failed,
                                       "interrupted": watched.interrupted}
    return out


def _pass_dict(result: PassResult) -> dict[str, Any]:
    return {"fetched": result.fetched, "archived": result.archived, "errored": result.errored,
            "interrupted": result.interrupted}


@click.command("fetch")
@click.argument("url", required=False, metavar="[imap://USER@HOST[:PORT]/FOLDER]")
@click.option("--tls", "security", flag_value="tls", help="Implicit TLS (IMAPS, port 993; the default).")
@click.option("--starttls", "security", flag_value="starttls", help="STARTTLS on port 143.")
@click.option("--plain", "security", flag_value="plain", help="No TLS (loopback and tests only).")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="DMARCPILOT_IMAP_PASSWORD_FILE", help="File holding the password (LOGIN).")
@click.option("--oauth2-token-file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="DMARCPILOT_IMAP_OAUTH2_TOKEN_FILE",
              help="File holding an OAuth2 access token (SASL XOAUTH2; re-read at each connection).")
@click.option("--archive-folder", help="Where processed mails go [default: dmarcpilot-archive].")
@click.option("--error-folder", help="Where mails with a rejected part go [default: dmarcpilot-error].")
@click.option("--batch-size", type=click.IntRange(1, 10_000), help="Messages per UID FETCH [default: 50].")
@click.option("--ca-file", type=click.Path(path_type=Path, dir_okay=False), help="CA certificates to trust.")
@click.option("--config", "config", type=click.Path(path_type=Path, dir_okay=False), envvar="DMARCPILOT_CONFIG",
              help="TOML configuration; without URL, every configured source is read once.")
@format_option
@click.pass_obj
def fetch_cmd(settings: Settings, url: str | None, security: str | None, password_file: Path | None,
              oauth2_token_file: Path | None, archive_folder: str | None, error_folder: str | None,
              batch_size: int | None, ca_file: Path | None, config: Path | None, fmt: str) -> None:
    """Collect report mails once: fetch, ingest, then move each to the archive (or error) folder.

    SIGTERM finishes the current batch and exits. Exit code 3 when a mail had a
    rejected part (it is in the error folder and in quarantine).
    """
    settings = settings.with_config(config)
    ingestor, summary = Ingestor(settings.engine()), IngestSummary()
    options = {"archive_folder": archive_folder, "error_folder": error_folder, "batch_size": batch_size,
               "ca_file": ca_file}
    with _stop_on_signals() as stop:
        if url:
            account = _account_from_flags(url, security, password_file, oauth2_token_file, options)
            sources = {f"imap:{account.label}": _pass_dict(collect_once(account, ingestor, summary, stop))}
        else:
            sources = _all_configured(settings.app_settings(), ingestor, summary, stop)
    raise SystemExit(_report(sources, summary, fmt))


def _report(sources: dict[str, Any], summary: IngestSummary, fmt: str) -> int:
    if fmt == "json":
        emit_json({"sources": sources, "ingest": summary.to_dict()})
    else:
        emit_table("Fetched", ("source", "result"),
                   [(name, ", ".join(f"{k} {v}" for k, v in result.items())) for name, result in sources.items()])
        emit_table("Ingest summary", ("", "count"), [
            ("inputs", summary.inputs), ("inputs already seen", summary.inputs_duplicate),
            ("reports ingested", summary.reports_ingested), ("reports duplicate", summary.reports_duplicate),
            ("rejected", len(summary.rejected))])
    return EXIT_REJECTED if summary.rejected else EXIT_OK
