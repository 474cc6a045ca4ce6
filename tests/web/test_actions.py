"""What admins change from the browser or a script, login rate limiting and uploads (SQLite and PostgreSQL)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from dmarcpilot.store.users import Role
from dmarcpilot.web.accounts import Accounts
from dmarcpilot.web.app import create_app
from tests.web.site import DOMAIN, PASSWORD, Site, aggregate, csrf_of


def test_approve_a_service_changes_the_records(site: Site) -> None:
    client = site.login("admin")
    before = client.get(f"/api/domains/{DOMAIN}/records").json()
    assert "include:sendgrid.net" not in before["spf_record"]
    sendgrid = next(s for s in client.get(f"/api/domains/{DOMAIN}").json()["services"] if s["service_id"] == "sendgrid")
    assert (sendgrid["status"], sendgrid["class"], sendgrid["messages"]) == ("pending", "known-but-unapproved", 120)
    answer = client.post(f"/domains/{DOMAIN}/decisions", data={
        "subject": "sendgrid", "decision": "approved", "reason": "newsletters", "csrf_token": csrf_of(client)},
        follow_redirects=False)
    assert answer.status_code == 303
    after = client.get(f"/api/domains/{DOMAIN}/records").json()
    assert "include:sendgrid.net" in after["spf_record"]
    assert "sendgrid" in after["approved_services"]
    page = client.get(f"/domains/{DOMAIN}/records").text
    assert "include:sendgrid.net" in page
    # the cached analysis of the domain page follows the decision
    services = client.get(f"/api/domains/{DOMAIN}").json()["services"]
    assert next(s for s in services if s["service_id"] == "sendgrid")["status"] == "approved"
    audit = client.get(f"/api/domains/{DOMAIN}/audit").json()["entries"]
    assert (audit[0]["actor"], audit[0]["subject"], audit[0]["reason"]) == ("admin", "sendgrid", "newsletters")


def test_a_reason_is_required(site: Site) -> None:
    client = site.login("admin")
    answer = client.post(f"/api/domains/{DOMAIN}/decisions", json={"subject": "sendgrid", "decision": "approved",
                                                                    "reason": " "},
                         headers={"X-CSRF-Token": csrf_of(client)})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid"
    page = client.post(f"/domains/{DOMAIN}/decisions", data={"subject": "sendgrid", "decision": "approved",
                                                             "csrf_token": csrf_of(client)})
    assert page.status_code == 400 and "reason is required" in page.text


def test_api_token_acts_without_csrf(site: Site) -> None:
    secret, _ = site.state.accounts.new_token("admin", "script")
    client = TestClient(site.client.app)
    auth = {"Authorization": f"Bearer {secret}"}
    answer = client.post(f"/api/domains/{DOMAIN}/decisions", headers=auth,
                         json={"subject": "203.0.113.0/24", "decision": "rejected", "reason": "spoofing"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["actor"] == "admin"
    assert client.get("/api/me", headers=auth).json()["csrf_token"] is None
    assert client.get(f"/domains/{DOMAIN}", headers=auth).status_code == 200


def test_advance_and_rollback(site: Site) -> None:
    client = site.login("admin")
    plan = client.get(f"/api/domains/{DOMAIN}/plan").json()
    assert (plan["stage"], plan["next_stage"], plan["ready"]) == ("none", "quarantine-testing", False)
    token = csrf_of(client)
    refused = client.post(f"/api/domains/{DOMAIN}/advance", json={}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 409  # under 1,000 approved messages: a blocker
    forced = client.post(f"/domains/{DOMAIN}/advance", data={"force": "yes", "reason": "pilot week",
                                                            "csrf_token": token}, follow_redirects=False)
    assert forced.status_code == 303
    assert client.get(f"/api/domains/{DOMAIN}/plan").json()["stage"] == "quarantine-testing"
    back = client.post(f"/api/domains/{DOMAIN}/rollback", json={"reason": "complaints"},
                       headers={"X-CSRF-Token": token})
    assert back.status_code == 200 and back.json()["stage"] == "none"
    stages = client.get(f"/api/domains/{DOMAIN}/audit").json()["stages"]
    assert [(s["stage"], s["forced"]) for s in stages] == [("none", False), ("quarantine-testing", True)]


def test_upload(site: Site) -> None:
    client = site.login("admin")
    report = aggregate(DOMAIN, "upload-1", [("192.0.2.9", 5, "pass", "pass", "", "")], "up.example")
    answer = client.post("/upload", files={"report": ("up.xml", report, "text/xml")},
                         data={"csrf_token": csrf_of(client)})
    assert answer.status_code == 200
    assert "1 report(s) ingested" in answer.text
    again = client.post("/api/reports", files={"report": ("up.xml", report, "text/xml")},
                        headers={"X-CSRF-Token": csrf_of(client)})
    assert again.json()["reports_duplicate"] == 1
    junk = client.post("/api/reports", files={"report": ("junk.txt", b"hello", "text/plain")},
                       headers={"X-CSRF-Token": csrf_of(client)}).json()
    assert junk["rejected"] and client.get("/api/quarantine").json()["items"]


def test_upload_over_the_limit_is_refused(site: Site) -> None:
    client = site.login("admin")
    big = b"<" + b"x" * (2 * 1024 * 1024)  # limit in these tests: 64 KiB (+1 MiB of form overhead)
    answer = client.post("/api/reports", files={"report": ("big.xml", big, "text/xml")},
                         headers={"X-CSRF-Token": csrf_of(client)})
    assert answer.status_code == 413
    medium = b"<" + b"x" * (100 * 1024)  # over 64 KiB, under the body limit: refused while copied
    answer = client.post("/api/reports", files={"report": ("m.xml", medium, "text/xml")},
                         headers={"X-CSRF-Token": csrf_of(client)})
    assert answer.status_code == 413
    assert client.post("/api/domains/example.edu/decisions", content=b"{" + b" " * (2 * 1024 * 1024),
                       headers={"X-CSRF-Token": csrf_of(client), "Content-Type": "application/json"}
                       ).status_code == 413


def _attempt(client: TestClient, username: str, password: str) -> int:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       follow_redirects=False).status_code


def test_login_rate_limit_holds_across_processes(site: Site) -> None:
    client = TestClient(site.client.app)
    assert _attempt(client, "viewer", "wrong password") == 401
    assert _attempt(client, "nobody", "wrong password") == 401
    for _ in range(4):
        assert _attempt(client, "viewer", "wrong password") == 401
    assert _attempt(client, "viewer", PASSWORD) == 429  # even the right password, for a while
    # another app on the same database (another worker process) sees the same failures
    other = create_app(site.state.config, site.state)
    assert _attempt(TestClient(other), "viewer", PASSWORD) == 429
    assert _attempt(TestClient(other), "admin", PASSWORD) == 303  # other users are not locked out


def test_password_change_ends_sessions(site: Site) -> None:
    client = site.login("viewer")
    assert client.get("/api/me").status_code == 200
    site.state.accounts.set_password("viewer", "another long password")
    assert client.get("/api/me").status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(site: Site) -> None:
    client = site.login("viewer")
    answer = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert answer.status_code == 303
    assert client.get("/api/me").status_code == 401


def test_accounts_store_only_hashes(site: Site) -> None:
    accounts: Accounts = site.state.accounts
    user = accounts.create("carol", "a long password", Role.VIEWER, ["Example.EDU."])
    assert user.domains == ("example.edu",)
    import sqlalchemy as sa

    with site.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT password_hash FROM web_users WHERE username = 'carol'")).scalar()
    assert stored.startswith("$argon2id$")
    secret, _ = accounts.new_token("carol", "x")
    with site.engine.connect() as conn:
        hashes = conn.execute(sa.text("SELECT token_hash FROM web_api_tokens")).scalars().all()
    assert secret not in hashes and len(hashes[0]) == 64
