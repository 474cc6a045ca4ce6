"""Aggregate reports as real reporters send them: the quirks the parser must absorb."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from dmarcpilot.reports import Parsed, Rejection, read_reports
from dmarcpilot.reports.model import AggregateReport, DkimResult, OverrideReason, SpfResult
from tests.reportgen import aggregate_xml

QUIRKY = """\ufeff
  <?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata>
    <org_name>  Example Reporter  </org_name>
    <email>dmarc@reporter.example</email>
    <report_id> id-42 </report_id>
    <date_range><begin> 1700000000 </begin><end>1700086399</end></date_range>
    <error>policy lookup timed out</error>
  </report_metadata>
  <policy_published>
    <domain>EXAMPLE.COM</domain><adkim>R</adkim><aspf></aspf><p>Reject</p><sp/><pct> 50 </pct>
  </policy_published>
  <record>
    <row>
      <source_ip> 2001:DB8:0:0::1 </source_ip>
      <count> 7 </count>
      <policy_evaluated>
        <disposition>NONE</disposition><dkim>Pass</dkim><spf>FAIL</spf>
        <reason><type>Forwarded</type><comment> via list </comment></reason>
        <reason><type>local_policy</type></reason>
        <reason><type></type><comment></comment></reason>
      </policy_evaluated>
    </row>
    <identifiers><header_from>Example.COM</header_from><envelope_from></envelope_from></identifiers>
    <auth_results>
      <dkim><domain>example.com</domain><selector>s1</selector><result>pass</result></dkim>
      <dkim><domain>esp.example</domain><selector>k2</selector><result>FAIL</result>
        <human_result> bad sig </human_result></dkim>
      <spf><domain>bounce.esp.example</domain><scope>MFROM</scope><result>softfail</result></spf>
      <spf><domain>esp.example</domain><scope>helo</scope><result>hardfail</result></spf>
    </auth_results>
  </record>
</feedback>
""".encode()


def _only_report(data: bytes) -> AggregateReport:
    items = list(read_reports("quirky.xml", lambda: io.BytesIO(data)))
    assert [type(i) for i in items] == [Parsed], items
    report = items[0].report  # type: ignore[union-attr]
    assert isinstance(report, AggregateReport)
    return report


def test_bom_whitespace_case_empty_elements_and_lists() -> None:
    report = _only_report(QUIRKY)
    h = report.header
    assert (h.org_name, h.report_id, h.reporter_errors) == ("Example Reporter", "id-42", ("policy lookup timed out",))
    policy = h.policy.to_dict()
    assert (policy["domain"], policy["adkim"], policy["aspf"], policy["p"], policy["sp"], policy["pct"]) == (
        "example.com", "r", None, "reject", None, 50)
    [record] = report.records
    assert str(record.source_ip) == "2001:db8::1"
    assert record.count == 7
    assert [(r.type, r.comment) for r in record.reasons] == [
        (OverrideReason.FORWARDED, "via list"), (OverrideReason.LOCAL_POLICY, None)]
    assert (record.header_from, record.envelope_from) == ("example.com", None)
    assert [(d.domain, d.result, d.human_result) for d in record.dkim_results] == [
        ("example.com", DkimResult.PASS, None), ("esp.example", DkimResult.FAIL, "bad sig")]
    # RFC 4408's "hardfail" is RFC 7208's "fail"
    assert [(s.domain, s.result) for s in record.spf_results] == [
        ("bounce.esp.example", SpfResult.SOFTFAIL), ("esp.example", SpfResult.FAIL)]
    assert report.errors == ()


def test_unknown_values_are_kept_as_errors_not_guessed() -> None:
    data = QUIRKY.replace(b"<result>softfail</result>", b"<result>maybe</result>")
    report = _only_report(data)
    assert report.records[0].spf_results[0].result is None
    assert report.errors == ("record 1: unknown SPF result 'maybe'",)


def test_records_before_the_metadata_are_kept() -> None:
    """Some reporters put <policy_published> after the records."""
    xml = aggregate_xml("late-policy", 3)
    start, end = xml.index(b" <policy_published>"), xml.index(b"</policy_published>") + len(b"</policy_published>\n")
    moved = xml[:start] + xml[end:].replace(b"</feedback>", xml[start:end] + b"</feedback>")
    report = _only_report(moved)
    assert len(report.records) == 3 and report.header.policy.domain == "example.com"


def test_missing_report_id_is_a_rejection() -> None:
    xml = aggregate_xml("x", 1).replace(b"<report_id>x</report_id>", b"")
    [item] = read_reports("no-id.xml", lambda: io.BytesIO(xml))
    assert isinstance(item, Rejection) and "report_id" in item.reason


_PARSE_AND_MEASURE = """
import sys
from dmarcpilot.reports.aggregate import AggregateParser
parser = AggregateParser(lambda: open(sys.argv[1], "rb"))
records = sum(1 for event in parser.events() if not hasattr(event, "policy"))
peak_kb = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(records, peak_kb)
"""


def test_memory_stays_flat_on_a_large_report(tmp_path: Path) -> None:
    """50,000 records (about 30 MB of XML, a ~300 MB tree if kept) parsed in a small, flat footprint.

    Peak RSS is read from /proc in a fresh interpreter (libxml2's memory is
    invisible to tracemalloc).
    """
    path = tmp_path / "large.xml"
    with path.open("wb") as out:
        out.write(aggregate_xml("large", 0).removesuffix(b"</feedback>\n"))
        for chunk in range(10):
            body = aggregate_xml("x", 5_000, first_ip=0x0B000000 + chunk * 5_000)
            out.write(body[body.index(b" <record>"):body.rindex(b"</feedback>")])
        out.write(b"</feedback>\n")
    assert path.stat().st_size > 25_000_000
    proc = subprocess.run([sys.executable, "-c", _PARSE_AND_MEASURE, str(path)],
                          capture_output=True, text=True, check=True, timeout=120)
    records, peak_kb = map(int, proc.stdout.split())
    assert records == 50_000
    assert peak_kb < 80 * 1024, f"peak RSS {peak_kb} kB"


def test_unknown_policy_values_name_the_policy_not_a_record() -> None:
    report = _only_report(QUIRKY.replace(b"<p>Reject</p>", b"<p>monitor</p>"))
    assert report.header.policy.p is None
    assert report.errors == ("policy_published: unknown p 'monitor'",)
