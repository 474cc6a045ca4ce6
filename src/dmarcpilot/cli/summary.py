"""``dmarcpilot summary DOMAIN [--days N]``: the headline figures for a domain."""

from __future__ import annotations

import click

from dmarcpilot.analysis.summary import summarise
from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.policy.approvals import normalise_domain


@click.command("summary")
@click.argument("domain")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True,
              help="Window ending today (UTC), by the reports' begin dates.")
@format_option
@click.pass_obj
def summary_cmd(settings: Settings, domain: str, days: int, fmt: str) -> None:
    """Messages, sources, countries and DMARC pass rates of DOMAIN."""
    summary = summarise(settings.engine(), normalise_domain(domain), days, IpDatabase.optional(settings.ip_databases))
    data = summary.to_dict()
    if fmt == "json":
        emit_json(data)
        return
    click.echo(summary.headline())
    emit_table(f"{summary.domain} since {data['since']}", ("", "value"),
               [(k, v) for k, v in data.items() if k not in ("domain", "since", "headline")])
