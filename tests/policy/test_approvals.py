"""Approvals registry with an append-only audit log, on both backends."""

from __future__ import annotations

import itertools
import json
import threading

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from dmarcpilot.policy.approvals import (
    ApprovalError,
    Decision,
    Subject,
    SubjectKind,
    check_reason,
    normalise_domain,
)
from dmarcpilot.store.approvals import audit_trail, decide, list_approvals
from dmarcpilot.store.schema import audit_log


@pytest.mark.parametrize(("text", "kind", "value"), [
    ("Microsoft-365", SubjectKind.SERVICE, "microsoft-365"),
    ("sap.successfactors", SubjectKind.SERVICE, "sap.successfactors"),
    ("192.0.2.0/24", SubjectKind.NETWORK, "192.0.2.0/24"),
    ("192.0.2.7", SubjectKind.NETWORK, "192.0.2.7/32"),
    ("2001:DB8::/48", SubjectKind.NETWORK, "2001:db8::/48"),
])
def test_subjects(text: str, kind: SubjectKind, value: str) -> None:
    assert Subject.from_text(text) == Subject(kind, value)


@pytest.mark.parametrize("text", ["192.0.2.1/24", "10.0.0.0/33", "has space", "<script>", ""])
def test_bad_subjects_are_refused(text: str) -> None:
    with pytest.raises(ApprovalError):
        Subject.from_text(text)


def test_domains_and_reasons() -> None:
    assert normalise_domain(" Example.EDU. ") == "example.edu"
    for bad in ("localhost", "-bad.example", "a..b", "x" * 64 + ".com"):
        with pytest.raises(ApprovalError):
            normalise_domain(bad)
    assert check_reason("  central   IT  ") == "central IT"
    with pytest.raises(ApprovalError, match="reason is required"):
        check_reason(" ")


def test_decisions_replace_and_the_audit_log_keeps_all(engine: sa.Engine) -> None:
    m365 = Subject.from_text("microsoft-365")
    decide(engine, "example.edu", m365, Decision.APPROVED, "alice", "central IT")
    decide(engine, "example.edu", Subject.from_text("203.0.113.0/24"), Decision.REJECTED, "bob", "spoofing")
    decide(engine, "example.edu", m365, Decision.REJECTED, "carol", "contract ended")
    decide(engine, "other.example", m365, Decision.APPROVED, "dave", "other domain")
    current = {(a.subject.value, a.decision, a.actor) for a in list_approvals(engine, "example.edu")}
    assert current == {("microsoft-365", Decision.REJECTED, "carol"), ("203.0.113.0/24", Decision.REJECTED, "bob")}
    trail = audit_trail(engine, "example.edu")
    assert [(e.actor, e.action, e.subject.value, e.previous) for e in trail] == [
        ("alice", "approve", "microsoft-365", None),
        ("bob", "reject", "203.0.113.0/24", None),
        ("carol", "reject", "microsoft-365", Decision.APPROVED),
    ]
    assert all(e.at.tzinfo is not None for e in trail)


def test_repeating_a_decision_is_a_no_op_but_a_new_reason_is_audited(engine: sa.Engine) -> None:
    m365 = Subject.from_text("microsoft-365")
    first = decide(engine, "example.edu", m365, Decision.APPROVED, "alice", "central IT")
    again = decide(engine, "example.edu", m365, Decision.APPROVED, "bob", "central IT")  # a re-run script
    assert (again.actor, again.decided_at) == ("alice", first.decided_at)
    decide(engine, "example.edu", m365, Decision.APPROVED, "bob", "contract renewed")
    trail = audit_trail(engine, "example.edu")
    assert [(e.actor, e.reason, e.previous) for e in trail] == [
        ("alice", "central IT", None), ("bob", "contract renewed", Decision.APPROVED),
    ]


def test_audit_log_is_append_only_in_the_database(engine: sa.Engine) -> None:
    decide(engine, "example.edu", Subject.from_text("mailchimp"), Decision.APPROVED, "alice", "newsletter")
    for statement in (audit_log.update().values(actor="mallory"), audit_log.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    assert [e.actor for e in audit_trail(engine, "example.edu")] == ["alice"]


def test_concurrent_deciders_each_get_an_entry(engine: sa.Engine) -> None:
    subject = Subject.from_text("servicenow")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            decision = Decision.APPROVED if n % 2 else Decision.REJECTED
            decide(engine, "example.edu", subject, decision, f"user{n}", f"decision {n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    trail = audit_trail(engine, "example.edu")
    assert len(trail) == 8
    # each entry names the decision it replaced: the chain is unbroken
    assert trail[0].previous is None
    made = {"approve": Decision.APPROVED, "reject": Decision.REJECTED}
    for before, after in itertools.pairwise(trail):
        assert after.previous == made[before.action]
    [final] = list_approvals(engine, "example.edu")
    assert final.actor == trail[-1].actor


def test_cli_approve_reject_audit(sqlite_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["--db", sqlite_url, *args])
        return result.exit_code, result.output

    code, out = run("approve", "Example.EDU", "microsoft-365", "--reason", "central IT", "--by", "alice",
                    "--format", "json")
    assert code == 0 and json.loads(out)["decision"] == "approved"
    code, out = run("reject", "example.edu", "microsoft-365")
    assert code == 2 and "--reason" in out  # a reason is required
    code, out = run("reject", "example.edu", "203.0.113.9/24", "--reason", "spoofing")
    assert code == 1
    code, out = run("audit", "example.edu", "--format", "json")
    assert [(e["actor"], e["action"], e["subject"]) for e in json.loads(out)] == [
        ("alice", "approve", "microsoft-365")]
    code, out = run("approvals", "example.edu")
    assert code == 0 and "microsoft-365" in out


def test_settings_changes_are_audited_and_a_repeat_is_not(sqlite_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(cli, ["--db", sqlite_url, *args])
        return result.exit_code, result.output

    assert run("domain", "set", "example.edu", "--by", "alice", "--reason", "first records")[0] == 0
    assert run("domain", "set", "example.edu", "--sp", "quarantine", "--rua",
               "mailto:dmarc@example.edu", "--by", "bob", "--reason", "subdomains first")[0] == 0
    assert run("domain", "set", "example.edu", "--sp", "quarantine", "--by", "bob")[0] == 0  # no change
    code, out = run("audit", "example.edu", "--format", "json")
    assert code == 0
    entries = [(e["actor"], e["action"], e["kind"], e["subject"], e["reason"]) for e in json.loads(out)]
    assert entries == [
        ("alice", "create", "settings", "defaults", "first records"),
        ("bob", "set", "settings",
         'dmarc_sp: null -> "quarantine"; dmarc_rua: [] -> ["mailto:dmarc@example.edu"]', "subdomains first"),
    ]
