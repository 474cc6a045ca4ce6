"""``dmarcpilot dns serve``: the built-in authoritative DNS server over the hosted zones of the store."""

from __future__ import annotations

import asyncio
import json
import logging

import click

from dmarcpilot.cli.common import Settings, format_option
from dmarcpilot.dnsserver.config import (
    DEFAULT_LISTEN,
    ServerConfig,
    parse_endpoint,
    parse_network,
    parse_secondary,
    parse_tsig_key,
)
from dmarcpilot.dnsserver.loader import ZoneLoader
from dmarcpilot.dnsserver.server import DnsServer, run
from dmarcpilot.errors import ConfigError


@click.group("dns")
def dns_group() -> None:
    """The built-in authoritative DNS server for the hosted zones."""


@dns_group.command("serve")
@click.option("--listen", "listen", multiple=True, metavar="ADDR:PORT",
              help=f"UDP and TCP address to answer on (repeatable; [IPv6]:PORT; port 0 picks one). "
                   f"Default {DEFAULT_LISTEN}.")
@click.option("--metrics", metavar="ADDR:PORT", help="Serve Prometheus counters at http://ADDR:PORT/metrics.")
@click.option("--reload-interval", type=click.FloatRange(min=0.1), default=5.0, show_default=True, metavar="S",
              help="Seconds between recompiles of the zones from the store (SIGHUP: now).")
@click.option("--allow-transfer", "allow_transfer", multiple=True, metavar="CIDR",
              help="Network allowed to AXFR/IXFR the zones (repeatable; default: nobody).")
@click.option("--tsig-key", metavar="NAME:ALGORITHM:BASE64",
              help="Require this TSIG key for transfers (e.g. xfr:hmac-sha256:...); NOTIFY is signed with it.")
@click.option("--notify", "notify", multiple=True, metavar="ADDR:PORT",
              help="Secondary to NOTIFY when a zone changes (repeatable; an IP address, port 53 by default).")
@click.option("--cache-size", type=click.IntRange(min=1), default=20_000, show_default=True,
              help="Encoded answers kept in memory.")
@format_option
@click.pass_obj
def serve_cmd(settings: Settings, listen: tuple[str, ...], metrics: str | None, reload_interval: float,
              allow_transfer: tuple[str, ...], tsig_key: str | None, notify: tuple[str, ...], cache_size: int,
              fmt: str) -> None:
    """Answer for every configured domain's hosted zone until SIGTERM or SIGINT (SIGHUP reloads).

    Zones are compiled from the store (offline: the last SPF snapshots) and
    reloaded without a restart when approvals, keys or settings change. On
    start one line tells where it listens (JSON with --format json).
    """
    try:
        config = ServerConfig(
            listen=tuple(parse_endpoint(t, 5353) for t in listen) or (DEFAULT_LISTEN,),
            metrics=parse_endpoint(metrics, 9153) if metrics else None,
            reload_interval=reload_interval,
            allow_transfer=tuple(parse_network(t) for t in allow_transfer),
            tsig_key=parse_tsig_key(tsig_key) if tsig_key else None,
            notify=tuple(parse_secondary(t) for t in notify),
            cache_size=cache_size,
        )
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    logging.getLogger("dmarcpilot.dnsserver").setLevel(logging.INFO)
    loader = ZoneLoader(settings.engine())

    def ready(server: DnsServer) -> None:
        zones = {z.apex: z.serial for z in server.authority.zones.values()}
        listening = [str(e) for e in server.endpoints]
        metrics_at = str(server.metrics_endpoint) if server.metrics_endpoint else None
        if fmt == "json":
            line = json.dumps({"event": "listening", "listen": listening, "metrics": metrics_at, "zones": zones})
        else:
            line = f"dmarcpilot dns: listening on {', '.join(listening)}; {len(zones)} zone(s)" + \
                   (f"; metrics at http://{metrics_at}/metrics" if metrics_at else "")
        click.echo(line)

    asyncio.run(run(config, loader, ready))
