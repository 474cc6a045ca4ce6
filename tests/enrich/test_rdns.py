"""Reverse DNS against a DNS server on loopback: confirmation, failures, caching."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from dmarcpilot.enrich.rdns import PtrResult, PtrStatus, RdnsSettings, bulk_reverse, make_resolver
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.jobs.rdns import refresh_reverse_dns
from dmarcpilot.sources.files import walk_paths
from dmarcpilot.store.schema import rdns_cache
from tests.dnsfake import FakeZone, serve
from tests.reportgen import aggregate_xml

FAST = RdnsSettings(concurrency=8, timeout=0.5)


def _zone() -> FakeZone:
    zone = FakeZone()
    # confirmed: PTR and A agree (RFC 8601 iprev pass)
    zone.add("1.100.51.198.in-addr.arpa", "PTR", "mail-1.esp.example.")
    zone.add("mail-1.esp.example", "A", "198.51.100.1")
    # unconfirmed: the name points elsewhere
    zone.add("2.100.51.198.in-addr.arpa", "PTR", "forged.example.")
    zone.add("forged.example", "A", "192.0.2.99")
    # IPv6, confirmed
    zone.add("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa", "PTR", "v6.esp.example.")
    zone.add("v6.esp.example", "AAAA", "2001:db8::1")
    # NODATA: the reverse name exists with another type
    zone.add("3.100.51.198.in-addr.arpa", "TXT", '"no ptr here"')
    zone.silent.add("4.100.51.198.in-addr.arpa.")
    zone.servfail.add("5.100.51.198.in-addr.arpa.")
    return zone


@pytest.fixture
def dns_port() -> Iterator[tuple[FakeZone, int]]:
    zone = _zone()
    with serve(zone) as port:
        yield zone, port


def test_statuses_and_forward_confirmation(dns_port: tuple[FakeZone, int]) -> None:
    _, port = dns_port
    resolver = make_resolver([f"127.0.0.1:{port}"])
    ips = [ipaddress.ip_address(a) for a in (
        "198.51.100.1", "198.51.100.2", "2001:db8::1", "198.51.100.3", "198.51.100.4", "198.51.100.5",
        "198.51.100.6")]
    results = {str(r.ip): r for r in asyncio.run(bulk_reverse(resolver, ips, FAST))}
    assert results["198.51.100.1"] == PtrResult(ips[0], PtrStatus.OK, "mail-1.esp.example", True)
    assert results["198.51.100.2"] == PtrResult(ips[1], PtrStatus.OK, "forged.example", False)
    assert results["2001:db8::1"] == PtrResult(ips[2], PtrStatus.OK, "v6.esp.example", True)
    assert results["198.51.100.3"].status is PtrStatus.NODATA
    assert results["198.51.100.4"].status is PtrStatus.TIMEOUT
    assert results["198.51.100.5"].status is PtrStatus.SERVFAIL
    assert results["198.51.100.6"].status is PtrStatus.NXDOMAIN


def test_job_caches_answers_and_negative_answers(engine: sa.Engine, tmp_path: Path,
                                                 dns_port: tuple[FakeZone, int]) -> None:
    zone, port = dns_port
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "r.xml").write_bytes(aggregate_xml("rdns-1", 6, first_ip=int(ipaddress.IPv4Address("198.51.100.1"))))
    Ingestor(engine).run(walk_paths([str(inbox)]))
    resolver = make_resolver([f"127.0.0.1:{port}"])

    counts = refresh_reverse_dns(engine, resolver, settings=FAST)
    assert counts == {"looked_up": 6, "ok": 2, "confirmed": 1, "nodata": 1, "timeout": 1, "servfail": 1,
                      "nxdomain": 1}
    with engine.connect() as conn:
        rows = {r.ip: (r.status, r.name, r.confirmed) for r in conn.execute(sa.select(rdns_cache))}
    assert rows["198.51.100.1"] == ("ok", "mail-1.esp.example", True)
    assert rows["198.51.100.6"] == ("nxdomain", None, False)

    asked = sum(zone.queries.values())
    again = refresh_reverse_dns(engine, resolver, settings=FAST)
    assert again == {"looked_up": 0}  # negative answers are cached too
    assert sum(zone.queries.values()) == asked


def test_cli_enrich_offline_and_online(sqlite_url: str, tmp_path: Path, dns_port: tuple[FakeZone, int]) -> None:
    zone, port = dns_port
    report = tmp_path / "r.xml"
    report.write_bytes(aggregate_xml("rdns-cli", 1, first_ip=int(ipaddress.IPv4Address("198.51.100.1"))))
    runner = CliRunner()
    assert runner.invoke(cli, ["--db", sqlite_url, "ingest", "--format", "json", str(report)]).exit_code == 0
    offline = runner.invoke(cli, ["--db", sqlite_url, "enrich", "--offline", "--format", "json"])
    assert json.loads(offline.output) == {"looked_up": 0, "offline": 1}
    assert sum(zone.queries.values()) == 0
    online = runner.invoke(cli, ["--db", sqlite_url, "enrich", "--nameserver", f"127.0.0.1:{port}",
                                 "--timeout", "0.5", "--format", "json"])
    assert json.loads(online.output) == {"looked_up": 1, "ok": 1, "confirmed": 1}
