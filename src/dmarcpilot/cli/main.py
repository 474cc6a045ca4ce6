"""``dmarcpilot``: the command group and its global options."""

from __future__ import annotations

import logging
import sys

import click

from dmarcpilot import __version__
from dmarcpilot.cli import (
    alerts,
    approvals,
    check,
    dkim,
    enforce,
    enrich,
    fetch,
    ingest,
    ipdata,
    publish,
    reports,
    run,
    sample,
    summary,
    web,
)
from dmarcpilot.cli import dns as dns_cli
from dmarcpilot.cli.common import EXIT_ERROR, Settings
from dmarcpilot.errors import DmarcpilotError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--db", envvar="DMARCPILOT_DB", metavar="URL",
    help="SQLAlchemy database URL (env DMARCPILOT_DB). Default: sqlite:///dmarcpilot.db in the "
         "current directory; postgresql://user@host/db for a shared deployment.",
)
@click.option(
    "--ip-database", envvar="DMARCPILOT_IP_DATABASE", metavar="PATH[:PATH]",
    help="MMDB files for country / ASN / owner (IPinfo Lite, MaxMind GeoLite2, DB-IP). Default: "
         "ipinfo_lite.mmdb in $DMARCPILOT_DATA_DIR or ~/.local/share/dmarcpilot (`dmarcpilot ipdata fetch`).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log progress and internal errors to stderr.")
@click.version_option(__version__, prog_name="dmarcpilot")
@click.pass_context
def cli(ctx: click.Context, db: str | None, ip_database: str | None, verbose: bool) -> None:
    """Take mail domains from DMARC monitoring to enforcement."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    ctx.obj = Settings.from_env(db, ip_database)


cli.add_command(ingest.ingest_cmd)
cli.add_command(ingest.reingest_cmd)
cli.add_command(fetch.fetch_cmd)
cli.add_command(run.run_cmd)
cli.add_command(reports.reports_cmd)
cli.add_command(reports.quarantine_cmd)
cli.add_command(ipdata.ipdata_group)
cli.add_command(enrich.enrich_cmd)
cli.add_command(sample.sample_group)
cli.add_command(summary.summary_cmd)
cli.add_command(summary.sources_cmd)
cli.add_command(summary.senders_cmd)
cli.add_command(check.check_cmd)
for command in (publish.domain_group, publish.records_cmd, publish.zone_cmd, publish.spf_group, dkim.dkim_group):
    cli.add_command(command)
cli.add_command(alerts.alerts_group)
for command in (enforce.plan_cmd, enforce.advance_cmd, enforce.rollback_cmd, enforce.timeline_cmd):
    cli.add_command(command)
cli.add_command(dns_cli.dns_group)
cli.add_command(web.serve_cmd)
cli.add_command(web.user_group)
for command in (approvals.approve_cmd, approvals.reject_cmd, approvals.approvals_cmd, approvals.audit_cmd):
    cli.add_command(command)


def main() -> None:
    try:
        rc = cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except DmarcpilotError as exc:
        click.echo(f"dmarcpilot: error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rc if isinstance(rc, int) else 0)
