"""``dmarcpilot summary DOMAIN [--days N]``: the headline figures for a domain."""

from __future__ import annotations

import click

from dmarcpilot.analysis.senders import analyse, digest
from dmarcpilot.analysis.summary import summarise
from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.enrich.catalogue import load_catalogue
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


@click.command("sources")
@click.argument("domain")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows (largest first).")
@format_option
@click.pass_obj
def sources_cmd(settings: Settings, domain: str, days: int, limit: int | None, fmt: str) -> None:
    """One row per source address: service, class, messages, country, ASN, owner, reverse DNS, evidence."""
    rows = analyse(settings.engine(), normalise_domain(domain), days, IpDatabase.optional(settings.ip_databases),
                   load_catalogue())
    data = [r.to_dict() for r in rows[:limit]]
    if fmt == "json":
        emit_json(data)
        return
    emit_table(f"{len(rows)} sources of {domain}",
               ("ip", "service", "class", "messages", "pass %", "country", "asn", "owner", "ptr", "evidence"),
               [(d["ip"], d["service"], d["class"], d["messages"], d["dmarc_pass_rate"], d["country"], d["asn"],
                 d["as_org"], (d["ptr"] or "") + (" (confirmed)" if d["ptr_confirmed"] else ""),
                 "; ".join(d["evidence"])) for d in data])


@click.command("senders")
@click.argument("domain")
@click.option("--days", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="At most this many rows (largest first).")
@format_option
@click.pass_obj
def senders_cmd(settings: Settings, domain: str, days: int, limit: int | None, fmt: str) -> None:
    """One row per sending service (or group of unknown sources), with pass rates and the fix."""
    every = digest(settings.engine(), normalise_domain(domain), days, IpDatabase.optional(settings.ip_databases),
                   load_catalogue()).senders
    rows = every[:limit]
    if fmt == "json":
        emit_json(rows)
        return
    title = f"Senders of {domain}" + (f" (largest {len(rows)} of {len(every)})" if len(rows) < len(every) else "")
    emit_table(title, ("service", "class", "status", "messages", "sources", "SPF %", "DKIM %",
                                        "DMARC %", "fix"),
               [(r["service"], r["class"], r["status"], r["messages"], r["sources"], r["spf_aligned_rate"],
                 r["dkim_aligned_rate"], r["dmarc_pass_rate"], r["fix"]) for r in rows])
