"""Synthetic aggregate reports for store, crash and CLI tests."""

from __future__ import annotations

import ipaddress
from pathlib import Path

_RECORD = """ <record>
  <row>
   <source_ip>{ip}</source_ip>
   <count>{count}</count>
   <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
  </row>
  <identifiers><header_from>{domain}</header_from><envelope_from>bounce.{domain}</envelope_from></identifiers>
  <auth_results>
   <dkim><domain>{domain}</domain><selector>s1</selector><result>pass</result></dkim>
   <spf><domain>bounce.{domain}</domain><scope>mfrom</scope><result>fail</result></spf>
  </auth_results>
 </record>
"""


def report_head(report_id: str, domain: str = "example.com", org: str = "reporter.example",
                begin: int = 1_700_000_000) -> str:
    """Declaration, root, metadata and published policy: everything before the records."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
 <version>1.0</version>
 <report_metadata>
  <org_name>{org}</org_name>
  <email>dmarc@{org}</email>
  <report_id>{report_id}</report_id>
  <date_range><begin>{begin}</begin><end>{begin + 86399}</end></date_range>
 </report_metadata>
 <policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p><pct>100</pct></policy_published>
"""


def aggregate_xml(report_id: str, records: int, domain: str = "example.com", org: str = "reporter.example",
                  first_ip: int = 0x0A000001, begin: int = 1_700_000_000) -> bytes:
    """An RFC 7489 report with ``records`` records from consecutive IPv4 addresses.

    Record ``i`` has count ``i + 1``, so a report's message total is
    ``records * (records + 1) / 2``.
    """
    head = report_head(report_id, domain, org, begin)
    body = "".join(
        _RECORD.format(ip=ipaddress.IPv4Address(first_ip + i), count=i + 1, domain=domain) for i in range(records)
    )
    return (head + body + "</feedback>\n").encode()


def write_reports(directory: Path, reports: int, records: int, prefix: str = "r") -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(reports):
        path = directory / f"{prefix}{n:04d}.xml"
        path.write_bytes(aggregate_xml(f"{prefix}-{n}", records, first_ip=0x0A000001 + n * records))
        paths.append(path)
    return paths
