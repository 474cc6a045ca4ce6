"""``dmarcpilot approve|reject DOMAIN SERVICE-OR-CIDR --reason``, ``approvals`` and ``audit``."""

from __future__ import annotations

import getpass
import os

import click

from dmarcpilot.cli.common import Settings, emit_json, emit_table, format_option
from dmarcpilot.policy.approvals import Decision, Subject, check_reason, normalise_domain
from dmarcpilot.store.approvals import audit_trail, decide, list_approvals


def _actor(by: str | None) -> str:
    return by or os.environ.get("DMARCPILOT_USER") or getpass.getuser()


def _decide(settings: Settings, decision: Decision, domain: str, subject: str, reason: str, by: str | None,
            fmt: str) -> None:
    approval = decide(settings.engine(), normalise_domain(domain), Subject.from_text(subject), decision,
                      _actor(by), check_reason(reason))
    if fmt == "json":
        emit_json(approval.to_dict())
    else:
        click.echo(f"{approval.decision.value}: {approval.subject.value} for {approval.domain} "
                   f"(by {approval.actor}: {approval.reason})")


def _decision_command(name: str, decision: Decision, help_text: str) -> click.Command:
    @click.command(name, help=help_text)
    @click.argument("domain")
    @click.argument("subject", metavar="SERVICE-OR-CIDR")
    @click.option("--reason", required=True, help="Why (kept in the audit log).")
    @click.option("--by", help="Who decides (default: $DMARCPILOT_USER or the login name).")
    @format_option
    @click.pass_obj
    def command(settings: Settings, domain: str, subject: str, reason: str, by: str | None, fmt: str) -> None:
        _decide(settings, decision, domain, subject, reason, by, fmt)

    return command


approve_cmd = _decision_command("approve", Decision.APPROVED,
                                "Approve a sending service (catalogue id) or a network (CIDR) for DOMAIN.")
reject_cmd = _decision_command("reject", Decision.REJECTED,
                               "Reject a sending service (catalogue id) or a network (CIDR) for DOMAIN.")


@click.command("approvals")
@click.argument("domain")
@format_option
@click.pass_obj
def approvals_cmd(settings: Settings, domain: str, fmt: str) -> None:
    """Current decisions for DOMAIN."""
    rows = list_approvals(settings.engine(), normalise_domain(domain))
    if fmt == "json":
        emit_json([a.to_dict() for a in rows])
    else:
        emit_table(f"Approvals for {domain}", ("kind", "subject", "decision", "by", "when (UTC)", "reason"),
                   [(a.subject.kind.value, a.subject.value, a.decision.value, a.actor,
                     a.decided_at.strftime("%Y-%m-%d %H:%M"), a.reason) for a in rows])


@click.command("audit")
@click.argument("domain")
@format_option
@click.pass_obj
def audit_cmd(settings: Settings, domain: str, fmt: str) -> None:
    """Every decision and settings change for DOMAIN, oldest first (append-only)."""
    rows = audit_trail(settings.engine(), normalise_domain(domain))
    if fmt == "json":
        emit_json([e.to_dict() for e in rows])
    else:
        emit_table(f"Audit log for {domain}", ("#", "when (UTC)", "by", "action", "subject", "was", "reason"),
                   [(e.id, e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.subject.value,
                     e.previous.value if e.previous else None, e.reason) for e in rows])
