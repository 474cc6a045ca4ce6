"""``dmarcpilot reports`` and ``dmarcpilot quarantine``."""

from __future__ import annotations

import click

from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.store.queries import list_quarantine, list_reports


@click.command("reports")
@click.option("--domain", help="Only reports about this domain.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many reports.")
@format_option
@click.pass_obj
def reports_cmd(settings: Settings, domain: str | None, limit: int | None, fmt: str) -> None:
    """List stored reports (aggregate, failure, SMTP TLS), newest first."""
    rows = list_reports(settings.engine(), domain=domain, limit=limit)
    if fmt == "json":
        emit_json([r.to_dict() for r in rows])
        return
    emit_table(
        f"{len(rows)} reports" + (f" for {domain}" if domain else ""),
        ("kind", "reporter", "report id", "domain", "begin (UTC)", "records", "messages"),
        [(r.kind, r.org_name, r.report_id, r.domain,
          r.begin.strftime("%Y-%m-%d %H:%M") if r.begin else None, r.records, r.messages) for r in rows],
    )


@click.command("quarantine")
@click.option("--all", "include_resolved", is_flag=True, help="Include entries resolved by a reingest.")
@format_option
@click.pass_obj
def quarantine_cmd(settings: Settings, include_resolved: bool, fmt: str) -> None:
    """List inputs (or parts of inputs) that could not be used, with the reason."""
    rows = list_quarantine(settings.engine(), include_resolved=include_resolved)
    if fmt == "json":
        emit_json(rows)
        return
    emit_table(f"{len(rows)} quarantined", ("id", "part", "reason", "since"),
               [(r["id"], r["part"], r["reason"], r["created_at"]) for r in rows])
