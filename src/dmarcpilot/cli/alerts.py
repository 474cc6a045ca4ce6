"""``dmarcpilot alerts run [DOMAIN...]``: detect and send alerts (schedule it, e.g. every hour)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from dmarcpilot.cli.common import Settings, emit_json, format_option
from dmarcpilot.dnsclient import ResolverClient
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.jobs.alerts import AlertWindows, alert_domain
from dmarcpilot.policy.approvals import normalise_domain
from dmarcpilot.store.publishing import configured_domains


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: new unknown sources, approved senders failing, spoofing surges."""


@alerts_group.command("run")
@click.argument("domains", nargs=-1)
@click.option("--dry-run", is_flag=True, help="Detect and show, send nothing, claim nothing.")
@click.option("--check-records", is_flag=True, help="Also look up the published records and alert on drift.")
@click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
              help="Resolver for --check-records (repeatable); default: the system's.")
@click.option("--quiet-hours", type=click.IntRange(0, 24 * 90), default=24, show_default=True,
              help="An alert already sent is not sent again within this time.")
@format_option
@click.pass_obj
def run_cmd(settings: Settings, domains: tuple[str, ...], dry_run: bool, check_records: bool,
            nameservers: tuple[str, ...], quiet_hours: int, fmt: str) -> None:
    """Check DOMAINS (default: every domain with settings) and deliver what is new."""
    engine = settings.engine()
    names = [normalise_domain(d) for d in domains] or configured_domains(engine)
    ipdb, catalogue = IpDatabase.optional(settings.ip_databases), load_catalogue()
    windows = AlertWindows(quiet=timedelta(hours=quiet_hours))
    smtp = settings.app_settings().notify  # [notify] of the configuration file, DMARCPILOT_SMTP_* over it
    client = ResolverClient(make_resolver(list(nameservers) or None)) if check_records else None
    out: list[dict[str, Any]] = []
    for domain in names:
        result = alert_domain(engine, domain, ipdb, catalogue, smtp, windows, dry_run, client)
        out.append({"domain": domain, "detected": [a.to_dict() for a in result.detected],
                    "sent": [a.key for a in result.sent], "suppressed": [a.key for a in result.suppressed],
                    "failed": result.failed})
    if fmt == "json":
        emit_json(out)
        return
    for row in out:
        click.echo(f"{row['domain']}: {len(row['detected'])} detected, {len(row['sent'])} sent, "
                   f"{len(row['suppressed'])} within their quiet period")
        for alert in row["detected"]:
            click.echo(f"  [{alert['kind']}] {alert['message']}")
        for failure in row["failed"]:
            click.echo(f"  delivery failed: {failure}", err=True)
