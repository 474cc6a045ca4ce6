"""``dmarcpilot ingest PATH...`` and ``dmarcpilot reingest``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from dmarcpilot.cli.common import (
    EXIT_OK,
    EXIT_REJECTED,
    Settings,
    console,
    emit_json,
    emit_table,
    format_option,
    is_terminal,
)
from dmarcpilot.ingest.pipeline import Ingestor, reingest_quarantined
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.sources.files import walk_paths


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None] | None]:
    """A progress line on a terminal (stderr); nothing when piped."""
    if not enabled:
        yield None
        return
    progress = Progress(
        SpinnerColumn(), TextColumn("{task.completed} inputs"), BarColumn(),
        TextColumn("{task.fields[current]}", markup=False), TimeElapsedColumn(),
        console=console(stderr=True), transient=True,
    )
    with progress:
        task = progress.add_task("ingest", total=None, current="")

        def advance(origin: str) -> None:
            progress.update(task, advance=1, current=origin[-60:])

        yield advance


def _report(summary: IngestSummary, fmt: str) -> int:
    if fmt == "json":
        emit_json(summary.to_dict())
    else:
        rows = [
            ("inputs", summary.inputs), ("inputs already seen", summary.inputs_duplicate),
            ("reports ingested", summary.reports_ingested),
            ("  aggregate", summary.by_type["aggregate"]), ("  failure", summary.by_type["failure"]),
            ("  smtp_tls", summary.by_type["smtp_tls"]),
            ("reports duplicate", summary.reports_duplicate), ("records", summary.records),
            ("messages", summary.messages), ("rejected", len(summary.rejected)),
        ]
        emit_table("Ingest summary", ("", "count"), rows)
        if summary.rejected:
            emit_table(
                "Rejected (kept in quarantine; `dmarcpilot reingest` retries them)", ("path", "reason"),
                [(r.path, r.reason + (" (earlier run)" if r.earlier else "")) for r in summary.rejected],
            )
    return EXIT_REJECTED if summary.rejected else EXIT_OK


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@format_option
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: on a terminal).")
@click.pass_obj
def ingest_cmd(settings: Settings, paths: tuple[str, ...], fmt: str, progress: bool | None) -> None:
    """Ingest report files, archives, mails, mbox files and directories.

    Exit code 0 when everything was usable, 3 when something was rejected
    (the rest is still ingested; rejected parts are kept in quarantine).
    """
    engine = settings.engine()
    show = is_terminal() if progress is None else progress
    with _progress(show) as on_input:
        summary = Ingestor(engine, on_input=on_input).run(walk_paths(list(paths)))
    raise SystemExit(_report(summary, fmt))


@click.command("reingest")
@format_option
@click.pass_obj
def reingest_cmd(settings: Settings, fmt: str) -> None:
    """Retry every quarantined input from the archive (after an upgrade)."""
    engine = settings.engine()
    with _progress(is_terminal()) as on_input:
        summary = reingest_quarantined(Ingestor(engine, on_input=on_input))
    raise SystemExit(_report(summary, fmt))
