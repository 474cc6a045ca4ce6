"""Attacker-controlled report contents are shown as text, never as markup (pages, SVG, JSON)."""

from __future__ import annotations

import pytest
from markupsafe import escape

from tests.web.site import DOMAIN, HOSTILE, HOSTILE_PTR, MARK, Site

PAGES_WITH_HOSTILE_TEXT = [
    ("/reports", HOSTILE),  # the reporter's name
    ("/reports/aggregate/1", HOSTILE),  # reporter name field, envelope_from in records, raw source
    (f"/domains/{DOMAIN}", HOSTILE_PTR),  # reverse DNS of a source; the approval's reason
    (f"/domains/{DOMAIN}", HOSTILE),
    (f"/domains/{DOMAIN}/sources/203.0.113.5", HOSTILE_PTR),
    (f"/domains/{DOMAIN}/sources/203.0.113.5", HOSTILE),  # envelope sender, reporter in the records
    (f"/domains/{DOMAIN}/audit", HOSTILE),  # the reason
]


@pytest.mark.parametrize(("path", "text"), PAGES_WITH_HOSTILE_TEXT)
def test_hostile_text_is_escaped(shared_site: Site, path: str, text: str) -> None:
    page = shared_site.login("admin").get(path).text
    # shown, escaped (the parser lower-cases envelope domains: accept the lower-cased text too)
    assert str(escape(text)) in page or str(escape(text.lower())) in page, f"{path}: text not shown"
    assert text not in page and text.lower() not in page  # never raw
    assert "<script>" + MARK not in page
    assert "<svg onload" not in page
    assert 'onerror="' + MARK not in page


def test_failure_report_headers_are_text(shared_site: Site) -> None:
    client = shared_site.login("admin")
    failure = next(r for r in client.get("/api/reports").json()["reports"] if r["kind"] == "failure")
    page = client.get(f"/reports/failure/{failure['id']}").text
    assert "&lt;script&gt;" + MARK in page  # subject, From and the raw source, escaped
    assert "<script>" + MARK not in page
    data = client.get(f"/api/reports/failure/{failure['id']}").json()
    ascii_part = HOSTILE.split("\u202e")[0]  # non-ASCII bytes in raw headers are the parser's to replace
    assert ascii_part in data["fields"]["sample_subject"] and ascii_part in data["fields"]["sample_headers"]


def test_json_keeps_the_text_exact(shared_site: Site) -> None:
    """The API returns the stored value unchanged (a script consuming it must escape it itself)."""
    client = shared_site.login("admin")
    reports = client.get("/api/reports").json()["reports"]
    assert HOSTILE in {r["org_name"] for r in reports}
    source = client.get(f"/api/domains/{DOMAIN}/sources/203.0.113.5").json()
    assert source["ptr"] == HOSTILE_PTR
    assert source["records"][0]["envelope_from"] == HOSTILE.lower()


def test_raw_source_is_a_download_in_a_sandbox(shared_site: Site) -> None:
    answer = shared_site.login("admin").get("/reports/aggregate/1/raw")
    assert answer.headers["content-type"] == "application/octet-stream"
    assert "sandbox" in answer.headers["content-security-policy"]
    assert answer.content.startswith(b"<?xml")


def test_svg_titles_are_escaped(shared_site: Site) -> None:
    page = shared_site.login("admin").get(f"/domains/{DOMAIN}").text
    svg = page[page.index("<figure class=\"chart\">"):]
    svg = svg[:svg.index("</figure>")]
    assert "<title>" in svg and "<script" not in svg
