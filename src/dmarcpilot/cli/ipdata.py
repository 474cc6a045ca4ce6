"""``dmarcpilot ipdata fetch|info|lookup``: the offline IP data (country, ASN, owner)."""

from __future__ import annotations

from pathlib import Path

import click

from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.enrich.fetch import ATTRIBUTION, WHEEL, default_ip_databases, fetch_ipinfo_lite
from dmarcpilot.enrich.ipdata import IpDatabase


@click.group("ipdata")
def ipdata_group() -> None:
    """Offline IP data: country, ASN and network owner of every source."""


@ipdata_group.command("fetch")
@click.option("--to", "target", type=click.Path(path_type=Path), help="Where to write the MMDB "
              "(default: $DMARCPILOT_DATA_DIR or ~/.local/share/dmarcpilot/ipinfo_lite.mmdb).")
@click.option("--if-missing", is_flag=True, help="Do nothing when the file is already there.")
@format_option
def fetch_cmd(target: Path | None, if_missing: bool, fmt: str) -> None:
    """Download IPinfo Lite (CC BY-SA 4.0) from the package registry (inside the parsedmarc wheel)."""
    path = target or default_ip_databases()[0]
    fetched = not (if_missing and path.is_file())
    if fetched:
        fetch_ipinfo_lite(path)
    if fmt == "json":
        emit_json({"path": str(path), "fetched": fetched, "source": WHEEL, "licence": "CC BY-SA 4.0"})
    else:
        click.echo(f"{'fetched' if fetched else 'already present'}: {path}\n\n{ATTRIBUTION.format(wheel=WHEEL)}")


@ipdata_group.command("info")
@format_option
@click.pass_obj
def info_cmd(settings: Settings, fmt: str) -> None:
    """Which IP databases are configured and what they hold."""
    db = IpDatabase.optional(settings.ip_databases)
    rows = db.describe()
    if fmt == "json":
        emit_json(rows)
    else:
        emit_table("IP databases", ("path", "type", "built (epoch)", "IP version"),
                   [(r["path"], r["type"], r["build_epoch"], r["ip_version"]) for r in rows])


@ipdata_group.command("lookup")
@click.argument("ips", nargs=-1, required=True)
@format_option
@click.pass_obj
def lookup_cmd(settings: Settings, ips: tuple[str, ...], fmt: str) -> None:
    """Country, ASN and owner of IP addresses."""
    db = IpDatabase.optional(settings.ip_databases)
    rows = [{"ip": ip, **db.lookup(ip).to_dict()} for ip in ips]
    if fmt == "json":
        emit_json(rows)
    else:
        emit_table("IP data", ("ip", "country", "asn", "as_name", "as_domain"),
                   [(r["ip"], r["country"], r["asn"], r["as_name"], r["as_domain"]) for r in rows])
