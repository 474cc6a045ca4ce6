"""Every route, in process: refused without login, with the wrong role, for the wrong domain, without CSRF."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dmarcpilot.web.app import UPLOAD_PATHS
from tests.web.site import DOMAIN, OTHER, PASSWORD, Site, aggregate, csrf_of

D = DOMAIN
PAGES = ["/", f"/domains/{D}", f"/domains/{D}/sources/203.0.113.5", f"/domains/{D}/records",
         f"/domains/{D}/records/drift", f"/domains/{D}/plan", f"/domains/{D}/audit", "/reports",
         "/reports/aggregate/1", "/reports/aggregate/1/raw", "/upload", "/quarantine"]
API = ["/api/me", "/api/openapi.json", "/api/domains", f"/api/domains/{D}", f"/api/domains/{D}/sources/203.0.113.5",
       f"/api/domains/{D}/records", f"/api/domains/{D}/records/drift", f"/api/domains/{D}/plan",
       f"/api/domains/{D}/audit", "/api/reports", "/api/reports/aggregate/1", "/api/quarantine"]
#: (path, form or JSON body) of every state-changing request; "upload" marks a multipart file.
FORM_ACTIONS = [(f"/domains/{D}/decisions", {"subject": "sendgrid", "decision": "approved", "reason": "ok then"}),
                (f"/domains/{D}/advance", {"reason": "gates"}),
                (f"/domains/{D}/rollback", {"reason": "back again"}),
                ("/upload", "upload"), ("/logout", {})]
API_ACTIONS = [(f"/api/domains/{D}/decisions", {"subject": "sendgrid", "decision": "approved", "reason": "ok then"}),
               (f"/api/domains/{D}/advance", {"reason": "gates"}),
               (f"/api/domains/{D}/rollback", {"reason": "back again"}),
               ("/api/reports", "upload")]
ADMIN_ONLY_PAGES = ["/upload", "/quarantine"]
ADMIN_ONLY_API = ["/api/quarantine"]


def _report() -> dict[str, tuple[str, bytes, str]]:
    return {"report": ("r.xml", aggregate(D, "upload-1", [("192.0.2.9", 5, "pass", "pass", "", "")], "up.example"),
                       "text/xml")}


def post(client: TestClient, path: str, body: object, csrf: str | None = None, api: bool = False,
         headers: dict[str, str] | None = None) -> Any:
    headers = dict(headers or {})
    if body == "upload":
        data = {"csrf_token": csrf} if csrf and not api else {}
        if csrf and api:
            headers["X-CSRF-Token"] = csrf
        return client.post(path, files=_report(), data=data, headers=headers, follow_redirects=False)
    if api:
        if csrf:
            headers["X-CSRF-Token"] = csrf
        return client.post(path, json=body, headers=headers, follow_redirects=False)
    form = dict(body) if isinstance(body, dict) else {}
    if csrf:
        form["csrf_token"] = csrf
    return client.post(path, data=form, headers=headers, follow_redirects=False)


def _error(response: Any) -> str:
    payload = response.json()
    assert set(payload) == {"error"} and set(payload["error"]) == {"code", "message"}
    return str(payload["error"]["code"])


# ----------------------------------------------------------------------------- unauthenticated


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_login(shared_site: Site, path: str) -> None:
    answer = shared_site.client.get(path, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", API)
def test_api_answers_401(shared_site: Site, path: str) -> None:
    answer = shared_site.client.get(path)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert _error(answer) == "not_authenticated"


@pytest.mark.parametrize(("path", "body"), FORM_ACTIONS)
def test_form_actions_need_login(shared_site: Site, path: str, body: object) -> None:
    answer = post(shared_site.client, path, body)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login")


@pytest.mark.parametrize(("path", "body"), API_ACTIONS)
def test_api_actions_need_login(shared_site: Site, path: str, body: object) -> None:
    answer = post(shared_site.client, path, body, api=True)
    assert answer.status_code == 401


@pytest.mark.parametrize("header", ["Bearer dp_wrong", "Bearer ", "Basic YWRtaW46eA==", "dp_x"])
def test_bad_authorization_is_refused(shared_site: Site, header: str) -> None:
    answer = shared_site.client.get("/api/domains", headers={"Authorization": header})
    assert answer.status_code == 401


def test_login_is_the_only_open_page(shared_site: Site) -> None:
    answer = shared_site.client.get("/login")
    assert answer.status_code == 200
    assert 'name="password"' in answer.text


# ----------------------------------------------------------------------------- authenticated, allowed


@pytest.mark.parametrize("path", PAGES)
def test_admin_sees_every_page(shared_site: Site, path: str) -> None:
    client = shared_site.login("admin")
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    if path.endswith("/raw"):
        assert answer.headers["content-disposition"].startswith("attachment")
        assert answer.headers["content-type"] == "application/octet-stream"
        return
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    # no inline script, no inline event handler, no style attribute: all of it would be refused by the CSP
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), path
    assert not re.search(r"<[^>]+\sstyle\s*=", html), path


@pytest.mark.parametrize("path", API)
def test_admin_gets_every_json_twin(shared_site: Site, path: str) -> None:
    answer = shared_site.login("admin").get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")


def test_openapi_lists_every_api_route(shared_site: Site) -> None:
    schema = shared_site.login("viewer").get("/api/openapi.json").json()
    paths = set(schema["paths"])
    routes = {p.replace("example.edu", "{domain}").replace("203.0.113.5", "{ip}") for p in API}
    routes = {re.sub(r"/aggregate/1$", "/{kind}/{report_id}", r) for r in routes} - {"/api/openapi.json"}
    assert routes <= paths
    assert {f"/api/domains/{{domain}}/{a}" for a in ("decisions", "advance", "rollback")} <= paths
    assert "/api/reports" in paths


# ----------------------------------------------------------------------------- wrong role


@pytest.mark.parametrize(("path", "body"), FORM_ACTIONS[:4])
def test_viewer_cannot_change_anything(shared_site: Site, path: str, body: object) -> None:
    client = shared_site.login("viewer")
    answer = post(client, path, body, csrf_of(client))
    assert answer.status_code == 403


@pytest.mark.parametrize(("path", "body"), API_ACTIONS)
def test_viewer_cannot_change_anything_by_api(shared_site: Site, path: str, body: object) -> None:
    client = shared_site.login("viewer")
    answer = post(client, path, body, csrf_of(client), api=True)
    assert answer.status_code == 403
    assert _error(answer) == "forbidden"


@pytest.mark.parametrize("user", ["viewer", "eduadmin"])
def test_upload_and_quarantine_need_an_admin_of_every_domain(shared_site: Site, user: str) -> None:
    client = shared_site.login(user)
    for path in ADMIN_ONLY_PAGES:
        assert client.get(path).status_code == 403
    for path in ADMIN_ONLY_API:
        assert client.get(path).status_code == 403
    for path in UPLOAD_PATHS:
        answer = post(client, path, "upload", csrf_of(client), api=path.startswith("/api/"))
        assert answer.status_code == 403


# ----------------------------------------------------------------------------- wrong domain


@pytest.mark.parametrize("path", [p.replace(D, OTHER).replace("203.0.113.5", "192.0.2.77")
                                  for p in PAGES + API if D in p])
def test_other_domain_is_refused(shared_site: Site, path: str) -> None:
    answer = shared_site.login("eduadmin").get(path, follow_redirects=False)
    assert answer.status_code == 403
    assert OTHER in (answer.json()["error"]["message"] if path.startswith("/api/") else answer.text)


@pytest.mark.parametrize(("path", "body"), FORM_ACTIONS[:3] + API_ACTIONS[:3])
def test_other_domain_cannot_be_changed(shared_site: Site, path: str, body: object) -> None:
    client = shared_site.login("eduadmin")
    answer = post(client, path.replace(D, OTHER), body, csrf_of(client), api=path.startswith("/api/"))
    assert answer.status_code == 403


def test_reports_of_other_domains_are_hidden(shared_site: Site) -> None:
    client = shared_site.login("eduadmin")
    listed = client.get("/api/reports").json()["reports"]
    assert listed and {r["domain"] for r in listed} == {D}
    other = next(r for r in shared_site.login("admin").get("/api/reports").json()["reports"] if r["domain"] == OTHER)
    for path in (f"/reports/aggregate/{other['id']}", f"/reports/aggregate/{other['id']}/raw",
                 f"/api/reports/aggregate/{other['id']}"):
        assert client.get(path).status_code == 403
    assert client.get(f"/api/reports?domain={OTHER}").status_code == 403
    assert [d["domain"] for d in client.get("/api/domains").json()["domains"]] == [D]


def test_unknown_domain_or_report_is_404(shared_site: Site) -> None:
    client = shared_site.login("admin")
    assert client.get("/api/domains/not_a_domain").status_code == 404
    assert client.get("/api/reports/aggregate/999").status_code == 404
    assert client.get("/api/reports/nonsense/1").status_code == 404
    assert client.get(f"/api/domains/{D}/sources/not-an-ip").status_code == 400
    assert client.get("/no/such/page").status_code == 404


# ----------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize(("path", "body"), FORM_ACTIONS)
def test_form_actions_without_csrf_are_refused(shared_site: Site, path: str, body: object) -> None:
    client = shared_site.login("admin")
    before = client.get(f"/api/domains/{D}/audit").json()
    answer = post(client, path, body)
    assert answer.status_code == 403
    assert "CSRF" in answer.text
    answer = post(client, path, body, "wrong-token")
    assert answer.status_code == 403
    assert client.get(f"/api/domains/{D}/audit").json() == before
    assert client.get("/api/me").status_code == 200  # still logged in: /logout was refused too


@pytest.mark.parametrize(("path", "body"), API_ACTIONS)
def test_api_actions_of_a_session_without_csrf_are_refused(shared_site: Site, path: str, body: object) -> None:
    client = shared_site.login("admin")
    answer = post(client, path, body, api=True)
    assert answer.status_code == 403
    assert _error(answer) == "csrf_rejected"


def test_a_foreign_origin_is_refused_even_with_the_token(shared_site: Site) -> None:
    client = shared_site.login("admin")
    path, body = FORM_ACTIONS[0]
    answer = post(client, path, body, csrf_of(client), headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403


def test_login_needs_its_form_token(shared_site: Site) -> None:
    client = TestClient(shared_site.client.app)
    answer = client.post("/login", data={"username": "admin", "password": PASSWORD}, follow_redirects=False)
    assert answer.status_code == 403
    assert "dmarcpilot_session" not in answer.cookies


def test_session_cookie_flags(shared_site: Site) -> None:
    client = TestClient(shared_site.client.app)
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = client.post("/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token},
                         follow_redirects=False)
    cookie = next(v for k, v in answer.headers.multi_items()
                  if k == "set-cookie" and v.startswith("dmarcpilot_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # secure_cookies=False in these tests; the default is True


def test_next_never_leaves_the_site(shared_site: Site) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        client = TestClient(shared_site.client.app)
        page = client.get("/login", params={"next": target})
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        answer = client.post("/login", data={"username": "viewer", "password": PASSWORD, "csrf_token": token,
                                             "next": target}, follow_redirects=False)
        assert answer.headers["location"] == "/"
