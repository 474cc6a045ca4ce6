"""``dmarcpilot plan|advance|rollback|timeline DOMAIN``: the road from p=none to p=reject."""

from __future__ import annotations

import click

from dmarcpilot.cli.approvals import _actor
from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.policy.approvals import normalise_domain
from dmarcpilot.policy.enforcement import DEFAULT_DAYS, Plan, advance, make_plan, rollback, timeline
from dmarcpilot.policy.stages import Stage, StageChange

days_option = click.option("--days", type=click.IntRange(1, 3660), default=DEFAULT_DAYS, show_default=True,
                           help="Window of reports to judge by.")


@click.command("plan")
@click.argument("domain")
@days_option
@format_option
@click.pass_obj
def plan_cmd(settings: Settings, domain: str, days: int, fmt: str) -> None:
    """Current stage, pass rates, blockers with their fixes, the next stage and what it would do."""
    plan = make_plan(settings.engine(), normalise_domain(domain), IpDatabase.optional(settings.ip_databases),
                     load_catalogue(), days)
    if fmt == "json":
        emit_json(plan.to_dict())
    else:
        _print_plan(plan)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} %"


def _print_plan(plan: Plan) -> None:
    r = plan.readiness
    click.echo(f"{r.domain}: stage {r.stage.value}; last {r.days} days: {r.messages} messages, "
               f"{_pct(r.pass_rate)} pass DMARC; approved senders {r.approved_messages} messages, "
               f"{_pct(r.approved_pass_rate)} pass")
    if r.target is None:
        click.echo("already at the last stage")
        return
    click.echo(f"next stage: {r.target.value} — {'READY' if r.ready else 'not ready'}")
    for blocker in r.blockers:
        click.echo(f"  blocker: {blocker}")
    for service in r.blocking_services:
        if service.fix:
            click.echo(f"  fix for {service.name}: {service.fix}")
    if plan.impact is not None:
        i = plan.impact
        click.echo(f"what-if {i.stage.value} (receivers apply p={i.applied.value}): "
                   + ", ".join(f"{c.value} {n}" for c, n in sorted(i.by_class.items(), key=lambda x: x[0].value))
                   + f"; collateral damage (approved mail) {i.collateral}")
        emit_table("Top sources that would be affected", ("ip", "group", "class", "messages"), i.top_sources)


def _print_change(change: StageChange, fmt: str) -> None:
    if fmt == "json":
        emit_json(change.to_dict())
    else:
        forced = " (FORCED past the gates)" if change.forced else ""
        click.echo(f"{change.domain}: {change.previous.value} -> {change.stage.value}{forced} by {change.actor}: "
                   f"{change.reason}")


@click.command("advance")
@click.argument("domain")
@click.option("--force", is_flag=True, help="Move even though the gates do not pass (recorded as forced).")
@click.option("--reason", default="", help="Why (required with --force; kept in the stage history).")
@click.option("--by", help="Who decides (default: $DMARCPILOT_USER or the login name).")
@days_option
@format_option
@click.pass_obj
def advance_cmd(settings: Settings, domain: str, force: bool, reason: str, by: str | None, days: int,
                fmt: str) -> None:
    """Move DOMAIN one stage towards p=reject, only when the gates pass."""
    change = advance(settings.engine(), normalise_domain(domain), _actor(by), reason or "gates passed",
                     IpDatabase.optional(settings.ip_databases), load_catalogue(), force, days)
    _print_change(change, fmt)


@click.command("rollback")
@click.argument("domain")
@click.option("--to", "to", type=click.Choice([s.value for s in Stage]), help="Go straight to this stage.")
@click.option("--reason", required=True, help="Why (kept in the stage history).")
@click.option("--by", help="Who decides (default: $DMARCPILOT_USER or the login name).")
@format_option
@click.pass_obj
def rollback_cmd(settings: Settings, domain: str, to: str | None, reason: str, by: str | None, fmt: str) -> None:
    """Move DOMAIN back one stage (or to --to)."""
    change = rollback(settings.engine(), normalise_domain(domain), _actor(by), reason, Stage(to) if to else None)
    _print_change(change, fmt)


@click.command("timeline")
@click.argument("domain")
@click.option("--days", type=click.IntRange(1, 3660), default=90, show_default=True)
@format_option
@click.pass_obj
def timeline_cmd(settings: Settings, domain: str, days: int, fmt: str) -> None:
    """DMARC pass rate per day, with the stage in force and the changes made."""
    rows = timeline(settings.engine(), normalise_domain(domain), days)
    if fmt == "json":
        emit_json([r.to_dict() for r in rows])
        return
    emit_table(f"Timeline of {domain}", ("day", "messages", "pass rate", "stage", "change"),
               [(r.day.isoformat(), r.messages, _pct(r.to_dict()["pass_rate"]), r.stage.value,
                 "; ".join(f"{c.previous.value} -> {c.stage.value} by {c.actor}" for c in r.changes))
                for r in rows])
