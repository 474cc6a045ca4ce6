"""Alerts end to end: detection over real stored reports, delivery to a real SMTP server (aiosmtpd) and an
HTTP receiver on loopback, de-duplication with a quiet period, retry after a failed delivery.

Reports, one a day (figures by hand):
- baseline (15 to 2 days ago): approved 192.0.2.1 100 messages a day, all passing; spoofer 203.0.113.9 10 a day.
- recent (yesterday and today): 192.0.2.1 100 a day, 60 passing (60 % against 100 %);
  203.0.113.9 10 a day; a new source 198.51.100.44 250 a day, failing (first seen yesterday).
"""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from dmarcpilot.analysis.alerts import AlertKind
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.jobs.alerts import AlertWindows, detect, run_alerts
from dmarcpilot.jobs.notify import SmtpSettings
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.policy.domains import DomainSettings
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.publishing import save_settings

DOMAIN = "example.edu"
_REC = """<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated><disposition>none</disposition>
<dkim>{r}</dkim><spf>fail</spf></policy_evaluated></row><identifiers><header_from>example.edu</header_from>
</identifiers><auth_results/></record>"""


def _day_report(day: date, rows: list[tuple[str, int, str]]) -> str:
    begin = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    body = "".join(_REC.format(ip=ip, n=n, r=r) for ip, n, r in rows)
    return f"""<?xml version="1.0"?><feedback><report_metadata><org_name>rx.example</org_name>
<report_id>{day.isoformat()}</report_id><date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
</report_metadata><policy_published><domain>{DOMAIN}</domain><p>none</p></policy_published>{body}</feedback>"""


TODAY = datetime.now(UTC).date()


def _setup(engine: sa.Engine, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for back in range(15, -1, -1):
        day = TODAY - timedelta(days=back)
        if back >= 2:
            rows = [("192.0.2.1", 100, "pass"), ("203.0.113.9", 10, "fail")]
        else:
            rows = [("192.0.2.1", 60, "pass"), ("192.0.2.1", 40, "fail"), ("203.0.113.9", 10, "fail"),
                    ("198.51.100.44", 250, "fail")]
        (folder / f"{day}.xml").write_text(_day_report(day, rows))
    Ingestor(engine).run(walk_paths([str(folder)]))
    decide(engine, DOMAIN, Subject.from_text("192.0.2.0/24"), Decision.APPROVED, "alice", "campus relays")


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSettings, _Mailbox]]:
    box = _Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield SmtpSettings("127.0.0.1", controller.port, "dmarcpilot@example.edu"), box
    finally:
        controller.stop()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()


def test_detection(engine: sa.Engine, tmp_path: Path) -> None:
    _setup(engine, tmp_path)
    alerts = {a.kind: a for a in detect(engine, DOMAIN, IpDatabase([]), load_catalogue(), TODAY)}
    assert set(alerts) == {AlertKind.NEW_UNKNOWN, AlertKind.PASS_DROP, AlertKind.SPOOF_SURGE}
    new = alerts[AlertKind.NEW_UNKNOWN]
    assert (new.subject, new.details["messages"], new.details["first_seen"]) == (
        "198.51.100.44", 500, (TODAY - timedelta(days=1)).isoformat())
    drop = alerts[AlertKind.PASS_DROP].details
    assert (drop["recent_pass_rate"], drop["baseline_pass_rate"], drop["recent_messages"]) == (60.0, 100.0, 200)
    surge = alerts[AlertKind.SPOOF_SURGE].details
    assert (surge["recent_per_day"], surge["baseline_per_day"]) == (260.0, 10.0)
    # a week later nothing is new any more: the new source's first day is outside the recent window
    later = detect(engine, DOMAIN, IpDatabase([]), load_catalogue(), TODAY + timedelta(days=7))
    assert AlertKind.NEW_UNKNOWN not in {a.kind for a in later}


def test_delivery_dedup_and_retry(engine: sa.Engine, tmp_path: Path, smtp: tuple[SmtpSettings, _Mailbox],
                                  webhook: tuple[str, list[dict[str, Any]]]) -> None:
    _setup(engine, tmp_path)
    settings, box = smtp
    url, received = webhook
    dead_url = f"http://127.0.0.1:{_free_port()}/nobody"
    save_settings(engine, DomainSettings(DOMAIN, alert_webhook=(dead_url,)), "alice")
    alerts = detect(engine, DOMAIN, IpDatabase([]), load_catalogue(), TODAY)
    failed = run_alerts(engine, DOMAIN, alerts, settings)
    assert failed.sent == [] and len(failed.failed) == 1  # the only webhook is down: claims released
    save_settings(engine, DomainSettings(DOMAIN, alert_email=("noc@example.edu",), alert_webhook=(url,)), "alice")
    first = run_alerts(engine, DOMAIN, alerts, settings)
    assert len(first.sent) == 3 and first.failed == []
    assert len(box.messages) == 1 and box.messages[0].rcpt_tos == ["noc@example.edu"]
    mail = email.message_from_bytes(box.messages[0].content)
    assert mail["Subject"] == f"dmarcpilot: 3 alerts for {DOMAIN}"
    assert "[new-unknown] new suspicious source 198.51.100.44" in mail.get_payload()
    assert [a["kind"] for a in received[0]["alerts"]] == ["new-unknown", "pass-drop", "spoof-surge"]
    # again within the quiet period: nothing is sent
    again = run_alerts(engine, DOMAIN, alerts, settings)
    assert again.sent == [] and len(again.suppressed) == 3 and len(box.messages) == 1 and len(received) == 1
    # with no quiet period left, they go out again
    assert len(run_alerts(engine, DOMAIN, alerts, settings, AlertWindows(quiet=timedelta(0))).sent) == 3


def test_drift_alerts(engine: sa.Engine, tmp_path: Path) -> None:
    import asyncio

    from dmarcpilot.dnsclient import StaticDnsClient
    from dmarcpilot.jobs.alerts import drift

    _setup(engine, tmp_path)
    save_settings(engine, DomainSettings(DOMAIN), "alice")
    live = StaticDnsClient({
        (DOMAIN, "TXT"): ["v=spf1 ip4:192.0.2.0/24 include:old-vendor.example ~all"],  # an extra include
        (f"_dmarc.{DOMAIN}", "CNAME"): [f"_dmarc._dmarcpilot.{DOMAIN}."],  # as compiled
    })
    alerts = asyncio.run(drift(engine, DOMAIN, load_catalogue(), live))
    # the compiled SPF is "v=spf1 ip4:192.0.2.0/24 ~all": the live one has an extra term
    assert [(a.kind, a.subject) for a in alerts] == [(AlertKind.DRIFT, f"{DOMAIN} TXT")]
    assert "include:old-vendor.example" in alerts[0].message
