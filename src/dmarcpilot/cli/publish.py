"""``dmarcpilot domain set|show``, ``records``, ``zone``, ``spf refresh|ranges``: what a domain publishes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from dmarcpilot.cli.approvals import _actor
from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.dnsclient import ResolverClient
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.policy.approvals import normalise_domain
from dmarcpilot.policy.domains import ALL_QUALIFIERS
from dmarcpilot.policy.publish import Publication, master_file, publication_digest, zone_records
from dmarcpilot.policy.publisher import Change, publication
from dmarcpilot.policy.spfcompile import SpfMode
from dmarcpilot.policy.vendorranges import refresh_vendor_ranges
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.records.dmarc import Policy
from dmarcpilot.records.mtasts import Mode
from dmarcpilot.store.publishing import get_settings, save_settings, zone_serial

F = TypeVar("F", bound=Callable[..., Any])


def dns_options(func: F) -> F:
    func = click.option("--offline", is_flag=True,
                        help="Use the last resolved snapshot of the vendors' includes; no DNS.")(func)
    return click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
                        help="Resolver to ask (repeatable); default: the system's.")(func)


def _publication(settings: Settings, domain: str, offline: bool,
                 nameservers: tuple[str, ...]) -> tuple[Publication, list[Change]]:
    client = None if offline else ResolverClient(make_resolver(list(nameservers) or None))
    return asyncio.run(publication(settings.engine(), normalise_domain(domain), load_catalogue(), client))


@click.group("domain")
def domain_group() -> None:
    """Per-domain publishing settings (hosted zone, own servers, DMARC reports, MTA-STS, TLS-RPT)."""


@domain_group.command("set")
@click.argument("domain")
@click.option("--hosted-zone", help="Zone dmarcpilot serves for DOMAIN (default _dmarcpilot.DOMAIN).")
@click.option("--own", "own", multiple=True, metavar="TERM",
              help="The organisation's own servers as SPF terms, e.g. mx, a:relay.example.edu, ip4:192.0.2.0/24.")
@click.option("--spf-mode", type=click.Choice([m.value for m in SpfMode]))
@click.option("--spf-all", type=click.Choice(sorted(ALL_QUALIFIERS)), help="Qualifier of the closing all.")
@click.option("--sp", "dmarc_sp", type=click.Choice([p.value for p in Policy]), help="Subdomain policy (default: p).")
@click.option("--np", "dmarc_np", type=click.Choice([p.value for p in Policy]),
              help="Non-existent subdomain policy (RFC 9989; default: sp).")
@click.option("--pct", "dmarc_pct", type=click.IntRange(0, 100), help="pct= for RFC 7489 receivers.")
@click.option("--rua", multiple=True, metavar="URI", help="Aggregate report address (mailto:...).")
@click.option("--ruf", multiple=True, metavar="URI", help="Failure report address (mailto:...).")
@click.option("--mta-sts", "mta_sts", type=click.Choice([m.value for m in Mode]))
@click.option("--mta-sts-mx", multiple=True, metavar="PATTERN", help="MX host pattern for MTA-STS (*.example.edu).")
@click.option("--tlsrpt-rua", multiple=True, metavar="URI")
@click.option("--ns", "nameservers", multiple=True, metavar="HOST", help="Name servers of the hosted zone.")
@click.option("--alert-email", multiple=True, metavar="ADDRESS", help="Who receives alerts by mail.")
@click.option("--alert-webhook", multiple=True, metavar="URL", help="Where alerts are POSTed as JSON.")
@click.option("--by", help="Who changes it (default: $DMARCPILOT_USER or the login name).")
@click.option("--reason", default="", help="Why, for the audit log.")
@format_option
@click.pass_obj
def domain_set(settings: Settings, /, domain: str, by: str | None, reason: str, fmt: str, **options: Any) -> None:
    """Change DOMAIN's settings; options not given keep their value (a repeated option replaces the list)."""
    current = get_settings(settings.engine(), normalise_domain(domain))
    changes: dict[str, Any] = {}
    names = {"own": "spf_own_terms", "rua": "dmarc_rua", "ruf": "dmarc_ruf", "mta_sts": "mta_sts_mode",
             "mta_sts_mx": "mta_sts_mx", "tlsrpt_rua": "tlsrpt_rua", "nameservers": "nameservers"}
    converters: dict[str, Callable[[Any], Any]] = {
        "spf_mode": SpfMode, "spf_all": ALL_QUALIFIERS.__getitem__, "dmarc_sp": Policy, "dmarc_np": Policy,
        "mta_sts": Mode}
    for option, value in options.items():
        if value is None or value == ():
            continue
        changes[names.get(option, option)] = converters.get(option, lambda v: v)(value)
    updated = current.updated(**changes)
    save_settings(settings.engine(), updated, _actor(by), reason)  # audited: see `dmarcpilot audit DOMAIN`
    _show(updated.to_dict(), fmt)


@domain_group.command("show")
@click.argument("domain")
@format_option
@click.pass_obj
def domain_show(settings: Settings, domain: str, fmt: str) -> None:
    """DOMAIN's publishing settings."""
    _show(get_settings(settings.engine(), normalise_domain(domain)).to_dict(), fmt)


def _show(data: dict[str, Any], fmt: str) -> None:
    if fmt == "json":
        emit_json(data)
    else:
        emit_table(f"Settings of {data['domain']}", ("setting", "value"),
                   [(k, " ".join(v) if isinstance(v, list) else v) for k, v in data.items()])


def _lookups(pub: Publication, record: ZoneRecord) -> int | None:
    if record.rdtype == "TXT" and record.value.lower().startswith("v=spf1"):
        return pub.spf.lookups if record.name == pub.settings.domain else 0
    return None


@click.command("records")
@click.argument("domain")
@dns_options
@format_option
@click.pass_obj
def records_cmd(settings: Settings, domain: str, offline: bool, nameservers: tuple[str, ...], fmt: str) -> None:
    """Every record DOMAIN publishes in its own DNS (once), for report destinations, and in the hosted zone."""
    pub, changes = _publication(settings, domain, offline, nameservers)
    groups = {"own_dns": pub.own_dns, "external": pub.external, "hosted_zone": pub.hosted}
    if fmt == "json":
        emit_json({
            "domain": pub.settings.domain, "hosted_zone": pub.settings.hosted_zone, "spf_mode": pub.spf.mode.value,
            "spf_lookups": pub.spf.lookups, "spf_flattened": list(pub.spf.flattened),
            "spf_kept": [{"include": n, "why": w} for n, w in pub.spf.kept],
            "proof": {"checked": pub.proof.checked, "mismatches": len(pub.proof.mismatches),
                      "non_pass_differences": len(pub.proof.notes)},
            **{name: [{"name": r.name, "type": r.rdtype, "ttl": r.ttl, "value": r.value,
                       "spf_lookups": _lookups(pub, r)} for r in rows] for name, rows in groups.items()},
            "mta_sts_policy": pub.mta_sts_policy, "warnings": list(pub.warnings), "changes": _changes(changes),
        })
        return
    _print_records(pub, groups)


def _print_records(pub: Publication, groups: dict[str, tuple[ZoneRecord, ...]]) -> None:
    titles = {"own_dns": f"Publish once in the DNS of {pub.settings.domain}",
              "external": "Publish in the report destinations' DNS (RFC 7489 §7.1)",
              "hosted_zone": f"Served by dmarcpilot in {pub.settings.hosted_zone}"}
    for name, rows in groups.items():
        if name == "hosted_zone" and len(rows) > 40:
            spf = sum(1 for r in rows if "._spf." in r.name)
            rows = tuple(r for r in rows if "._spf." not in r.name)
            click.echo(f"({spf} names of the SPF address tree in {pub.settings.hosted_zone}: dmarcpilot zone)")
        if rows:
            click.echo(f"; {titles[name]}")
            for r in rows:
                lookups = _lookups(pub, r)
                note = f"  ; {lookups} DNS lookups (limit 10)" if lookups is not None else ""
                click.echo(f"{r.name}. {r.ttl} IN {r.rdtype} {_value(r)}{note}")
    notes = f" ({len(pub.proof.notes)} differ between two non-pass results)" if pub.proof.notes else ""
    click.echo(f"; SPF: {pub.spf.mode.value} form, {pub.spf.lookups} lookups; proof: {pub.proof.checked} "
               f"addresses evaluated, {len(pub.proof.mismatches)} authorised differently{notes}")
    for warning in pub.warnings:
        click.echo(f"warning: {warning}", err=True)


def _value(record: ZoneRecord) -> str:
    return '"' + record.value.replace("\\", "\\\\").replace('"', '\\"') + '"' if record.rdtype == "TXT" \
        else record.value + ("." if record.rdtype in ("CNAME", "NS") else "")


def _changes(changes: list[Change]) -> list[dict[str, Any]]:
    return [{"include": c.include, "added": [str(n) for n in c.added], "removed": [str(n) for n in c.removed],
             "problem": c.problem} for c in changes]


@click.command("zone")
@click.argument("domain")
@dns_options
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to a file, not stdout.")
@click.option("--format", "fmt", type=click.Choice(["zone", "json"]), default="zone", show_default=True,
              help="An RFC 1035 master file, or JSON records for scripts.")
@click.pass_obj
def zone_cmd(settings: Settings, domain: str, offline: bool, nameservers: tuple[str, ...], output: Path | None,
             fmt: str) -> None:
    """The hosted zone as an RFC 1035 master file that BIND, NSD or Knot load unchanged."""
    pub, _ = _publication(settings, domain, offline, nameservers)
    serial = zone_serial(settings.engine(), pub.settings.hosted_zone, publication_digest(pub))
    records = zone_records(pub, serial)
    if fmt == "json":
        text = json.dumps({"zone": pub.settings.hosted_zone, "serial": serial, "records": [
            {"name": r.name, "type": r.rdtype, "ttl": r.ttl, "value": r.value} for r in records]}, indent=2) + "\n"
    else:
        text = master_file(pub.settings.hosted_zone, records)
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
    for warning in pub.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.group("spf")
def spf_group() -> None:
    """The SPF compiler's jobs."""


@spf_group.command("refresh")
@click.argument("domain")
@click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]")
@format_option
@click.pass_obj
def spf_refresh(settings: Settings, domain: str, nameservers: tuple[str, ...], fmt: str) -> None:
    """Re-resolve the approved vendors' includes, store the snapshots and show what changed."""
    pub, changes = _publication(settings, domain, False, nameservers)
    serial = zone_serial(settings.engine(), pub.settings.hosted_zone, publication_digest(pub))
    if fmt == "json":
        emit_json({"domain": pub.settings.domain, "serial": serial, "changes": _changes(changes)})
        return
    emit_table(f"SPF includes of {pub.settings.domain} (zone serial {serial})", ("include", "added", "removed", "note"),
               [(c.include, " ".join(map(str, c.added)), " ".join(map(str, c.removed)), c.problem) for c in changes])


@spf_group.command("ranges")
@click.option("--nameserver", "nameservers", multiple=True, metavar="HOST[:PORT]",
              help="Resolver to ask (repeatable); default: the system's.")
@format_option
@click.pass_obj
def spf_ranges(settings: Settings, nameservers: tuple[str, ...], fmt: str) -> None:
    """Resolve every catalogue service's SPF includes and keep their ranges, to name sources by them."""
    client = ResolverClient(make_resolver(list(nameservers) or None))
    changes = asyncio.run(refresh_vendor_ranges(settings.engine(), load_catalogue(), client))
    if fmt == "json":
        emit_json({"includes": len(changes), "changes": _changes(changes)})
        return
    emit_table(f"SPF ranges of {len(changes)} catalogue includes", ("include", "added", "removed", "note"),
               [(c.include, str(len(c.added)), str(len(c.removed)), c.problem) for c in changes
                if c.added or c.removed or c.problem])
