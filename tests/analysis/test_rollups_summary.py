"""Daily and monthly rollups (exact under re-ingest), windows across months, the domain summary; figures by hand."""

from __future__ import annotations

import gzip
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.analysis.summary import summarise
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store import rollups
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.queries import SourceCounters, source_counters, source_evidence
from dmarcpilot.store.schema import daily_domain_stats, daily_source_evidence, daily_source_stats, monthly_source_stats
from tests.enrich.mmdb import write_mmdb

_RECORD = """<record><row><source_ip>{ip}</source_ip><count>{count}</count>
<policy_evaluated><disposition>{disp}</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated></row>
<identifiers><header_from>example.edu</header_from></identifiers><auth_results/></record>
"""


def _report(org: str, report_id: str, records: list[tuple[str, int, str, str, str]], begin: int) -> bytes:
    body = "".join(_RECORD.format(ip=ip, count=c, disp=d, dkim=k, spf=s) for ip, c, d, k, s in records)
    return f"""<?xml version="1.0"?><feedback><report_metadata><org_name>{org}</org_name>
<report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
</report_metadata><policy_published><domain>example.edu</domain><p>none</p></policy_published>
{body}</feedback>""".encode()


NOV14 = 1_700_000_000  # 2023-11-14T22:13:20Z
GOOGLE = _report("google.com", "g-1", [
    ("192.0.2.1", 10, "none", "pass", "fail"),
    ("192.0.2.2", 5, "none", "fail", "pass"),
    ("198.51.100.9", 7, "reject", "fail", "fail"),
    ("192.0.2.1", 3, "quarantine", "fail", "fail"),
], NOV14)
YAHOO = _report("yahoo.com", "y-1", [("192.0.2.1", 2, "none", "pass", "pass")], NOV14 + 3600)
NEXT_DAY = _report("google.com", "g-2", [("203.0.113.5", 4, "none", "fail", "fail")], NOV14 + 86400)


def _rows(engine: sa.Engine) -> dict[tuple[str, str], tuple[int, ...]]:
    t = daily_source_stats.c
    with engine.connect() as conn:
        return {
            (str(r.day), r.source_ip): (r.messages, r.dmarc_pass, r.dkim_aligned, r.spf_aligned, r.quarantined,
                                        r.rejected)
            for r in conn.execute(sa.select(daily_source_stats).order_by(t.day, t.source_ip))
        }


EXPECTED = {
    # day, ip: messages, dmarc pass, dkim aligned, spf aligned, quarantined, rejected
    ("2023-11-14", "192.0.2.1"): (15, 12, 12, 2, 3, 0),
    ("2023-11-14", "192.0.2.2"): (5, 5, 0, 5, 0, 0),
    ("2023-11-14", "198.51.100.9"): (7, 0, 0, 0, 0, 7),
    ("2023-11-15", "203.0.113.5"): (4, 0, 0, 0, 0, 0),
}


def _ingest(engine: sa.Engine, directory: Path, files: dict[str, bytes]) -> None:
    directory.mkdir(exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)
    Ingestor(engine).run(walk_paths([str(directory)]))


def test_rollup_is_exact_and_stays_exact_under_reingest(engine: sa.Engine, tmp_path: Path) -> None:
    _ingest(engine, tmp_path / "a", {"g.xml": GOOGLE, "y.xml": YAHOO, "n.xml": NEXT_DAY})
    assert _rows(engine) == EXPECTED
    # the same reports again, in other envelopes: nothing changes
    _ingest(engine, tmp_path / "b", {"g.xml.gz": gzip.compress(GOOGLE), "y.xml": YAHOO + b"\n"})
    assert _rows(engine) == EXPECTED
    assert _domain_days(engine) == DOMAIN_DAYS
    # and the rollup equals a rebuild from the records
    with engine.begin() as conn:
        rollups.rebuild(conn)
    assert _rows(engine) == EXPECTED
    assert _domain_days(engine) == DOMAIN_DAYS


# the per-domain daily totals: the sources' rows of EXPECTED summed by hand
DOMAIN_DAYS = {
    "2023-11-14": (15 + 5 + 7, 12 + 5, 12, 2 + 5, 3, 7),
    "2023-11-15": (4, 0, 0, 0, 0, 0),
}


def _domain_days(engine: sa.Engine) -> dict[str, tuple[int, ...]]:
    t = daily_domain_stats.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(daily_domain_stats).where(t.domain == "example.edu").order_by(t.day))
        return {str(r.day): (r.messages, r.dmarc_pass, r.dkim_aligned, r.spf_aligned, r.quarantined, r.rejected)
                for r in rows}


def test_summary_headline(engine: sa.Engine, tmp_path: Path) -> None:
    _ingest(engine, tmp_path / "a", {"g.xml": GOOGLE, "y.xml": YAHOO, "n.xml": NEXT_DAY})
    ipdb = IpDatabase([write_mmdb(tmp_path / "geo.mmdb", {
        "192.0.2.0/24": {"country_code": "GB"}, "198.51.100.0/24": {"country_code": "CN"},
    }, "test")])
    decide(engine, "example.edu", Subject.from_text("192.0.2.0/25"), Decision.APPROVED, "alice", "campus relays")
    s = summarise(engine, "example.edu", days=2, ipdb=ipdb, today=date(2023, 11, 15))
    # 4 sources; countries GB and CN (203.0.113.5 unknown); 31 messages of which 17 passed
    assert (s.sources, s.countries, s.messages, s.dmarc_pass) == (4, 2, 31, 17)
    assert s.dmarc_pass_rate == round(100 * 17 / 31, 2)
    # approved 192.0.2.0/25: 192.0.2.1 and 192.0.2.2, 20 messages, 17 passed
    assert (s.approved_messages, s.approved_pass_rate) == (20, 85.0)
    assert s.headline().startswith("4 sources across 2 countries sent 31 messages as example.edu since 2023-11-14")
    one_day = summarise(engine, "example.edu", days=1, ipdb=ipdb, today=date(2023, 11, 15))
    assert (one_day.messages, one_day.sources) == (4, 1)
    no_geo = summarise(engine, "example.edu", days=2, ipdb=IpDatabase([]), today=date(2023, 11, 15))
    assert no_geo.countries is None


_AUTH_RECORD = """<record><row><source_ip>{ip}</source_ip><count>{count}</count>
<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
<identifiers><header_from>example.edu</header_from><envelope_from>{env}</envelope_from></identifiers>
<auth_results><dkim><domain>{dkim}</domain><result>{dkim_result}</result></dkim>
<spf><domain>{spf}</domain><result>{spf_result}</result></spf></auth_results></record>
"""


def _auth_report(report_id: str, records: list[tuple[str, int, str, str, str, str, str]], begin: int) -> bytes:
    body = "".join(_AUTH_RECORD.format(ip=ip, count=c, env=e, dkim=d, dkim_result=dr, spf=s, spf_result=sr)
                   for ip, c, e, d, dr, s, sr in records)
    return f"""<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name>
<report_id>{report_id}</report_id><date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
</report_metadata><policy_published><domain>example.edu</domain><p>none</p></policy_published>
{body}</feedback>""".encode()


def _evidence(engine: sa.Engine) -> dict[tuple[str, str, str], tuple[int, int]]:
    t = daily_source_evidence.c
    with engine.connect() as conn:
        return {(r.source_ip, r.kind, r.value): (r.messages, r.passed)
                for r in conn.execute(sa.select(daily_source_evidence).order_by(t.source_ip, t.kind, t.value))}


def test_evidence_rollup_is_exact_and_stays_exact_under_reingest(engine: sa.Engine, tmp_path: Path) -> None:
    one = _auth_report("e-1", [
        ("192.0.2.1", 10, "Bounce.Vendor.example", "Vendor.example", "pass", "bounce.vendor.example", "pass"),
        ("192.0.2.1", 4, "bounce.vendor.example", "vendor.example", "fail", "bounce.vendor.example", "softfail"),
        ("198.51.100.9", 7, "example.edu", "example.edu", "pass", "mail.example.edu", "pass"),
    ], NOV14)
    two = _auth_report("e-2", [
        ("192.0.2.1", 3, "bounce.vendor.example", "vendor.example", "pass", "bounce.vendor.example", "pass"),
    ], NOV14 + 60)
    expected = {
        # passing DKIM signatures only; the envelope domain counts once as envelope_from and once as SPF domain
        ("192.0.2.1", "dkim", "vendor.example"): (13, 13),
        ("192.0.2.1", "envelope", "bounce.vendor.example"): (34, 13),
        # 198.51.100.9: only the report's own domain and its subdomains, which are never a vendor's evidence
    }
    _ingest(engine, tmp_path / "a", {"1.xml": one, "2.xml": two})
    assert _evidence(engine) == expected
    _ingest(engine, tmp_path / "b", {"1.xml.gz": gzip.compress(one), "2.xml": two + b" "})
    assert _evidence(engine) == expected
    with engine.begin() as conn:
        rollups.rebuild(conn)
    assert _evidence(engine) == expected


def _at(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def _monthly(engine: sa.Engine) -> dict[tuple[str, str], tuple[int, int]]:
    t = monthly_source_stats.c
    with engine.connect() as conn:
        return {(str(r.month), r.source_ip): (r.messages, r.dmarc_pass) for r in conn.execute(sa.select(t))}


def test_windows_across_months_read_whole_months_and_leading_days(engine: sa.Engine, tmp_path: Path) -> None:
    a, b = "192.0.2.1", "192.0.2.2"
    files = {
        "1.xml": _report("r", "1", [(a, 5, "none", "pass", "fail")], _at("2023-10-30T00:00")),
        "2.xml": _report("r", "2", [(a, 3, "none", "fail", "fail"), (b, 2, "none", "fail", "pass")],
                         _at("2023-10-31T12:00")),
        "3.xml": _report("r", "3", [(b, 4, "none", "fail", "fail")], _at("2023-11-01T00:00")),
        "4.xml": _report("r", "4", [(a, 1, "none", "pass", "pass")], _at("2023-11-14T23:59")),
    }
    _ingest(engine, tmp_path / "a", files)
    expected_months = {("2023-10-01", a): (8, 5), ("2023-10-01", b): (2, 2),
                       ("2023-11-01", a): (1, 1), ("2023-11-01", b): (4, 0)}
    assert _monthly(engine) == expected_months
    _ingest(engine, tmp_path / "b", {"1.xml.gz": gzip.compress(files["1.xml"])})  # re-ingest: no change
    assert _monthly(engine) == expected_months

    def window(since: str) -> dict[str, tuple[int, int]]:
        rows: list[SourceCounters] = source_counters(engine, "example.edu", date.fromisoformat(since))
        return {r.ip: (r.messages, r.dmarc_pass) for r in rows}

    assert window("2023-10-01") == {a: (9, 6), b: (6, 2)}  # whole months only
    assert window("2023-10-30") == {a: (9, 6), b: (6, 2)}  # two leading days + November
    assert window("2023-10-31") == {a: (4, 1), b: (6, 2)}
    assert window("2023-11-01") == {a: (1, 1), b: (4, 0)}
    assert window("2023-11-02") == {a: (1, 1)}  # leading days to the end of November, no whole month
    assert window("2023-11-15") == {}
    with engine.begin() as conn:
        rollups.rebuild(conn)
    assert _monthly(engine) == expected_months


def test_evidence_windows_across_months(engine: sa.Engine, tmp_path: Path) -> None:
    row = ("192.0.2.1", 6, "bounce.vendor.example", "vendor.example", "pass", "bounce.vendor.example", "fail")
    _ingest(engine, tmp_path / "a", {
        "1.xml": _auth_report("m-1", [row], _at("2023-10-31T10:00")),
        "2.xml": _auth_report("m-2", [(*row[:1], 2, *row[2:])], _at("2023-11-03T10:00")),
    })

    def window(since: str) -> set[tuple[str, str, str, int, int]]:
        return set(source_evidence(engine, "example.edu", date.fromisoformat(since)))

    assert window("2023-10-31") == {("192.0.2.1", "dkim", "vendor.example", 8, 8),
                                    ("192.0.2.1", "envelope", "bounce.vendor.example", 16, 0)}
    assert window("2023-11-01") == {("192.0.2.1", "dkim", "vendor.example", 2, 2),
                                    ("192.0.2.1", "envelope", "bounce.vendor.example", 4, 0)}
    assert window("2023-11-04") == set()
