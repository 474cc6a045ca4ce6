"""``dmarcpilot sample university OUT``: write the deterministic sample year of reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from dmarcpilot.cli.common import Settings, emit_json, format_option
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.samplegen.university import generate


@click.group("sample")
def sample_group() -> None:
    """Generate realistic sample data."""


@sample_group.command("university")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--end", type=click.DateTime(["%Y-%m-%d"]), help="Last day reported (default: yesterday, UTC).")
@click.option("--days", type=click.IntRange(min=1), default=365, show_default=True)
@click.option("--scale", type=click.FloatRange(min=0.01), default=1.0, show_default=True,
              help="Multiply the number of sources (and so records); 1.0 is about 4,000 sources, 400k records.")
@format_option
@click.pass_obj
def university_cmd(settings: Settings, out: Path, seed: int, end: datetime | None, days: int, scale: float,
                   fmt: str) -> None:
    """A year of aggregate reports for university.example, the same bytes for the same options.

    Spoofers, forwarders and cloud vendors are spread over as many countries
    as the IP database knows (without one: random addresses).
    """
    last = end.date() if end else (datetime.now(UTC) - timedelta(days=1)).date()
    result = generate(out, seed=seed, end=last, days=days, scale=scale,
                      ipdb=IpDatabase.optional(settings.ip_databases))
    data = {"out": str(out), "files": result.files, "records": result.records, "messages": result.messages,
            "sources": result.sources, "first_day": (last - timedelta(days=days - 1)).isoformat(),
            "last_day": last.isoformat()}
    if fmt == "json":
        emit_json(data)
    else:
        click.echo(f"{result.files} reports ({result.records} records, {result.messages} messages, "
                   f"{result.sources} sources) for {data['first_day']}..{data['last_day']} in {out}")
