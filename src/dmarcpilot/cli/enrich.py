"""``dmarcpilot enrich``: reverse DNS of stored source addresses (cached in the store)."""

from __future__ import annotations

import click

from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.enrich.rdns import RdnsSettings, make_resolver
from dmarcpilot.jobs.rdns import refresh_reverse_dns


@click.command("enrich")
@click.option("--offline", is_flag=True, help="Skip every network lookup (reverse DNS).")
@click.option("--limit", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="At most this many addresses per run.")
@click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
              help="Resolver to ask (repeatable); default: the system's.")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=64, show_default=True)
@click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True,
              help="Seconds per DNS query.")
@format_option
@click.pass_obj
def enrich_cmd(settings: Settings, offline: bool, limit: int, nameservers: tuple[str, ...], concurrency: int,
               timeout: float, fmt: str) -> None:
    """Reverse DNS (forward-confirmed) for source addresses without a fresh cached answer."""
    if offline:
        counts = {"looked_up": 0, "offline": 1}
    else:
        resolver = make_resolver(list(nameservers) or None)
        counts = refresh_reverse_dns(settings.engine(), resolver, limit, RdnsSettings(concurrency, timeout))
    if fmt == "json":
        emit_json(counts)
    else:
        emit_table("Reverse DNS", ("outcome", "addresses"), sorted(counts.items()))
