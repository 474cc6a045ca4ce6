"""A small store for the web tests: two domains, a catalogue service, hostile report contents, three accounts.

example.edu, one aggregate report two days ago (figures chosen by hand):
- 192.0.2.1   950 messages, DKIM and SPF aligned (an approved network, 192.0.2.0/24)
- 198.51.100.20 120 messages, DKIM d=sendgrid.net passes, not aligned: SendGrid (pending)
- 198.51.100.7  30 messages DKIM aligned, SPF not: a forwarder
- 203.0.113.5  300 messages failing both; reverse DNS and envelope sender are hostile markup
The reporter's name is hostile too; a failure report carries hostile headers; an approval's reason is hostile.
other.example: one small report, for the wrong-domain checks.
"""

from __future__ import annotations

import io
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

import sqlalchemy as sa
from fastapi.testclient import TestClient

from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.enrich.rdns import PtrResult, PtrStatus
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.store import rdns
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.users import Role
from dmarcpilot.web.accounts import Accounts
from dmarcpilot.web.app import create_app
from dmarcpilot.web.config import WebConfig
from dmarcpilot.web.views import WebState

#: Markup, quotes, an entity, a bidi override and a zero-width space: must come out as text.
MARK = "window.__pwned=1"
HOSTILE = f"<script>{MARK}</script><img src=x onerror=\"{MARK}\">'&amp;\u202e\u200bÅ"
HOSTILE_PTR = "<svg onload=alert(1)>.evil.example"
PASSWORD = "correct horse battery"
DOMAIN = "example.edu"
OTHER = "other.example"

_REC = """<record><row><source_ip>{ip}</source_ip><count>{n}</count><policy_evaluated><disposition>none</disposition>
<dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated></row><identifiers><header_from>{domain}</header_from>
{envelope}</identifiers><auth_results>{auth}</auth_results></record>"""
SENDGRID = "<dkim><domain>sendgrid.net</domain><result>pass</result></dkim>"
ROWS = [("192.0.2.1", 950, "pass", "pass", "", ""),
        ("198.51.100.20", 120, "fail", "fail", "", SENDGRID),
        ("198.51.100.7", 30, "pass", "fail", "", ""),
        ("203.0.113.5", 300, "fail", "fail", f"<envelope_from>{escape(HOSTILE)}</envelope_from>", "")]


def aggregate(domain: str, report_id: str, rows: list[tuple[str, int, str, str, str, str]], org: str) -> bytes:
    begin = int((datetime.now(UTC) - timedelta(days=2)).timestamp())
    body = "".join(_REC.format(ip=ip, n=n, dkim=d, spf=s, envelope=env, auth=a, domain=domain)
                   for ip, n, d, s, env, a in rows)
    return f"""<?xml version="1.0" encoding="UTF-8"?><feedback><report_metadata>
<org_name>{escape(org)}</org_name><report_id>{report_id}</report_id><date_range><begin>{begin}</begin>
<end>{begin + 86399}</end></date_range></report_metadata><policy_published><domain>{domain}</domain>
<p>none</p></policy_published>{body}</feedback>""".encode()


def failure_report() -> bytes:
    """An RFC 6591 report whose sample message has hostile headers."""
    arrival = f"{datetime.now(UTC) - timedelta(days=1):%a, %d %b %Y %H:%M:%S +0000}"
    return f"""From: dmarc@receiver.example
To: ruf@{DOMAIN}
Subject: DMARC failure report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b1"

--b1
Content-Type: text/plain; charset="utf-8"

This is an authentication failure report.

--b1
Content-Type: message/feedback-report

Feedback-Type: auth-failure
User-Agent: test/1.0
Version: 1
Original-Mail-From: spoof@{DOMAIN}
Arrival-Date: {arrival}
Source-IP: 203.0.113.5
Auth-Failure: dmarc
Reported-Domain: {DOMAIN}

--b1
Content-Type: message/rfc822

From: {HOSTILE} <spoof@{DOMAIN}>
Subject: {HOSTILE}
Message-ID: <hostile@evil.example>
To: victim@{DOMAIN}

body {HOSTILE}

--b1--
""".replace("\n", "\r\n").encode()


def populate(engine: sa.Engine) -> None:
    ingestor = Ingestor(engine)
    for name, data in (("edu.xml", aggregate(DOMAIN, "edu-1", ROWS, HOSTILE)),
                       ("other.xml", aggregate(OTHER, "other-1", [("192.0.2.77", 10, "pass", "pass", "", "")],
                                               "receiver.example")),
                       ("ruf.eml", failure_report())):
        summary = IngestSummary()
        ingestor.ingest(name, lambda data=data: io.BytesIO(data), summary)
        assert summary.reports_ingested == 1, summary.to_dict()
    rdns.save(engine, [PtrResult(ipaddress.ip_address("203.0.113.5"), PtrStatus.OK, HOSTILE_PTR, False)],
              datetime.now(UTC))
    decide(engine, DOMAIN, Subject.from_text("192.0.2.0/24"), Decision.APPROVED, "alice", f"campus {HOSTILE}")


@dataclass
class Site:
    engine: sa.Engine
    state: WebState
    client: TestClient

    def login(self, username: str, password: str = PASSWORD) -> TestClient:
        """A new client logged in as ``username`` (cookies of its own)."""
        client = TestClient(self.client.app, base_url="http://testserver")
        page = client.get("/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                             follow_redirects=False)
        assert answer.status_code == 303, answer.text
        return client


def csrf_of(client: TestClient) -> str:
    token = client.get("/api/me").json()["csrf_token"]
    assert token
    return str(token)


def make_site(engine: sa.Engine, tmp_path: Path, populate_store: bool = True) -> Site:
    if populate_store:
        populate(engine)
    config = WebConfig(db_url=str(engine.url), secure_cookies=False, drift_timeout=2.0,
                       nameservers=("127.0.0.1:9",), max_upload_bytes=64 * 1024)
    accounts = Accounts(engine, config)
    state = WebState(engine, config, IpDatabase([]), load_catalogue(), accounts)
    accounts.create("admin", PASSWORD, Role.ADMIN, ["*"])
    accounts.create("viewer", PASSWORD, Role.VIEWER, ["*"])
    accounts.create("eduadmin", PASSWORD, Role.ADMIN, [DOMAIN])
    app = create_app(config, state)
    return Site(engine, state, TestClient(app, base_url="http://testserver"))
