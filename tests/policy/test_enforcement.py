"""The road to enforcement: readiness, gates, what-if, advance/rollback, the DMARC record and the timeline.

One report, two days ago, figures chosen by hand:
- 192.0.2.1 (approved network) 950 messages, DKIM and SPF aligned: pass
- 192.0.2.2 (approved network)  50 messages, DKIM by vendor.example and SPF for bounce.vendor.example: fail
- 198.51.100.7 a forwarder: 30 messages DKIM aligned (pass), 10 messages failing both
- 203.0.113.5 a spoofer: 300 messages failing both
Approved mail: 1000 messages, 950 pass = 95.0 %.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dmarcpilot.analysis.identify import SenderClass
from dmarcpilot.analysis.readiness import readiness, what_if
from dmarcpilot.analysis.senders import analyse
from dmarcpilot.cli.main import cli
from dmarcpilot.dnsclient import StaticDnsClient
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.policy.enforcement import advance, make_plan, rollback, timeline
from dmarcpilot.policy.publisher import publication
from dmarcpilot.policy.stages import Stage, StageError
from dmarcpilot.records.dmarc import Policy
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.db import create_engine, migrate
from dmarcpilot.store.schema import policy_stages

_REC = """<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated><disposition>none</disposition>
<dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated></row><identifiers><header_from>example.edu</header_from>
</identifiers><auth_results>{auth}</auth_results></record>"""
VENDOR_AUTH = ("<dkim><domain>vendor.example</domain><result>pass</result></dkim>"
               "<spf><domain>bounce.vendor.example</domain><result>pass</result></spf>")
ROWS = [("192.0.2.1", 950, "pass", "pass", ""), ("192.0.2.2", 50, "fail", "fail", VENDOR_AUTH),
        ("198.51.100.7", 30, "pass", "fail", ""), ("198.51.100.7", 10, "fail", "fail", ""),
        ("203.0.113.5", 300, "fail", "fail", "")]


def _ingest(engine: sa.Engine, tmp_path: Path) -> None:
    begin = int((datetime.now(UTC) - timedelta(days=2)).timestamp())
    body = "".join(_REC.format(ip=ip, n=n, dkim=d, spf=s, auth=a) for ip, n, d, s, a in ROWS)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "r.xml").write_text(f"""<?xml version="1.0"?><feedback><report_metadata>
<org_name>receiver.example</org_name><report_id>1</report_id><date_range><begin>{begin}</begin>
<end>{begin + 86399}</end></date_range></report_metadata><policy_published><domain>example.edu</domain>
<p>none</p></policy_published>{body}</feedback>""")
    Ingestor(engine).run(walk_paths([str(tmp_path / "in")]))
    decide(engine, "example.edu", Subject.from_text("192.0.2.0/24"), Decision.APPROVED, "alice", "campus relays")


NO_IP = IpDatabase([])


def test_readiness_and_what_if(engine: sa.Engine, tmp_path: Path) -> None:
    _ingest(engine, tmp_path)
    sources = analyse(engine, "example.edu", 14, NO_IP, load_catalogue())
    ready = readiness("example.edu", 14, Stage.NONE, sources)
    assert (ready.messages, ready.passed) == (1340, 950 + 30)
    assert (ready.approved_messages, ready.approved_passed, ready.approved_pass_rate) == (1000, 950, 95.0)
    assert ready.target is Stage.QUARANTINE_TESTING and ready.ready
    # at reject-testing the gate is 97 %: the approved group blocks, with the reasons
    blocked = readiness("example.edu", 14, Stage.QUARANTINE, sources)
    assert not blocked.ready
    assert blocked.blockers[0] == "95.0 % of approved senders' mail passes DMARC; reject-testing needs 97 %"
    assert blocked.blocking_services[0].failing == 50
    assert blocked.blocking_services[0].reasons == (
        "DKIM by the vendor's own domain (vendor.example), not aligned",
        "SPF passes for bounce.vendor.example, not aligned with the From domain")
    quarantine = what_if(Stage.QUARANTINE, sources)
    assert quarantine.applied is Policy.QUARANTINE
    assert quarantine.by_class == {SenderClass.APPROVED: 50, SenderClass.FORWARDER: 10, SenderClass.SUSPICIOUS: 300}
    assert quarantine.collateral == 50
    assert quarantine.top_sources[0] == ("203.0.113.5", quarantine.top_sources[0][1], "suspicious", 300)
    assert what_if(Stage.QUARANTINE_TESTING, sources).by_class == {}  # t=y: receivers apply none
    assert what_if(Stage.REJECT_TESTING, sources).applied is Policy.QUARANTINE
    assert what_if(Stage.REJECT, sources, pct=10).by_class[SenderClass.SUSPICIOUS] == 30


def test_advance_through_the_gates_force_rollback_and_the_record(engine: sa.Engine, tmp_path: Path) -> None:
    _ingest(engine, tmp_path)
    cat = load_catalogue()
    first = advance(engine, "example.edu", "alice", "95 % of approved mail passes", NO_IP, cat)
    assert (first.previous, first.stage, first.forced) == (Stage.NONE, Stage.QUARANTINE_TESTING, False)
    assert first.figures["approved_pass_rate"] == 95.0
    assert advance(engine, "example.edu", "alice", "next", NO_IP, cat).stage is Stage.QUARANTINE
    with pytest.raises(StageError, match="not ready for reject-testing"):
        advance(engine, "example.edu", "alice", "", NO_IP, cat)
    forced = advance(engine, "example.edu", "bob", "board decision", NO_IP, cat, force=True)
    assert (forced.stage, forced.forced) == (Stage.REJECT_TESTING, True)
    assert forced.figures["collateral_damage"] == 50  # what-if of reject-testing = quarantine of failing mail
    pub, _ = asyncio.run(publication(engine, "example.edu", cat, StaticDnsClient()))
    dmarc = {r.name: r.value for r in pub.hosted}["_dmarc._dmarcpilot.example.edu"]
    assert dmarc == "v=DMARC1; p=reject; t=y"
    back = rollback(engine, "example.edu", "alice", "a department complained")
    assert (back.previous, back.stage) == (Stage.REJECT_TESTING, Stage.QUARANTINE)
    assert make_plan(engine, "example.edu", NO_IP, cat).readiness.stage is Stage.QUARANTINE
    days = timeline(engine, "example.edu", 3)
    assert days[0].messages == 1340 and days[0].passed == 980 and days[0].stage is Stage.NONE
    assert [c.stage for c in days[-1].changes] == [Stage.QUARANTINE_TESTING, Stage.QUARANTINE,
                                                  Stage.REJECT_TESTING, Stage.QUARANTINE]
    # the history is append-only in the database itself
    with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
        conn.execute(policy_stages.delete())


def test_cli_plan_advance_timeline(sqlite_url: str, tmp_path: Path) -> None:
    engine = create_engine(sqlite_url)
    migrate(engine)
    _ingest(engine, tmp_path)

    def run(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["--db", sqlite_url, "--ip-database", "", *args])
        return result.exit_code, result.output

    code, out = run("plan", "example.edu", "--format", "json")
    plan = json.loads(out)
    assert code == 0 and (plan["stage"], plan["next_stage"], plan["ready"]) == ("none", "quarantine-testing", True)
    assert plan["what_if"]["by_class"] == {}
    code, out = run("advance", "example.edu", "--by", "alice", "--format", "json")
    assert code == 0 and json.loads(out)["stage"] == "quarantine-testing"
    code, out = run("timeline", "example.edu", "--days", "3", "--format", "json")
    assert json.loads(out)[-1]["stage"] == "quarantine-testing"
    code, out = run("rollback", "example.edu", "--to", "none", "--reason", "pause")
    assert code == 0 and "quarantine-testing -> none" in out
