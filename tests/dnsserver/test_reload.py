"""Zones reload from the store while serving: new approvals appear, the serial grows, failures keep the old zone."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import sqlalchemy as sa

from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.db import open_store
from dmarcpilot.store.schema import domain_settings
from tests.dnsserver.helpers import CHAINED, CHAINED_HZ, DOMAIN, HZ, Reply, ServerProcess, dig, dns_server

NEW = "233.252.0.0/24"  # MCAST-TEST-NET: not approved at first
PROBE = f"7.0.252.233.in-addr._spf.{HZ}"


def serial(server: ServerProcess, zone: str = HZ) -> int:
    return int(dig(server.port, zone, "SOA").values("SOA")[0].split()[2])


def wait_for(check: Callable[[], Reply], accept: Callable[[Reply], bool], seconds: float) -> Reply:
    deadline = time.monotonic() + seconds
    while True:
        reply = check()
        if accept(reply) or time.monotonic() > deadline:
            return reply
        time.sleep(0.1)


def test_an_approval_appears_within_the_reload_interval(store_url: str) -> None:
    with dns_server(store_url, reload_interval=0.5) as server:
        before = serial(server)
        assert dig(server.port, PROBE, "A").status == "NXDOMAIN"
        engine = open_store(store_url)
        decide(engine, DOMAIN, Subject.from_text(NEW), Decision.APPROVED, "bob", "new campus relay")
        changed_at = time.monotonic()
        reply = wait_for(lambda: dig(server.port, PROBE, "A"), lambda r: r.status == "NOERROR", 10)
        assert reply.values("A") == ["127.0.0.2"], reply.text
        assert time.monotonic() - changed_at < 5  # 0.5 s interval, plus a compile
        assert serial(server) == before + 1
        # and back: revoking it removes the name again, with one more serial
        decide(engine, DOMAIN, Subject.from_text(NEW), Decision.REJECTED, "bob", "decommissioned")
        reply = wait_for(lambda: dig(server.port, PROBE, "A"), lambda r: r.status == "NXDOMAIN", 10)
        assert reply.status == "NXDOMAIN" and serial(server) == before + 2
        engine.dispose()


def test_sighup_reloads_now(store_url: str) -> None:
    with dns_server(store_url, reload_interval=3600) as server:
        engine = open_store(store_url)
        decide(engine, DOMAIN, Subject.from_text(NEW), Decision.APPROVED, "bob", "new campus relay")
        time.sleep(1)
        assert dig(server.port, PROBE, "A").status == "NXDOMAIN"  # the next timed reload is an hour away
        server.proc.send_signal(signal.SIGHUP)
        reply = wait_for(lambda: dig(server.port, PROBE, "A"), lambda r: r.status == "NOERROR", 10)
        assert reply.values("A") == ["127.0.0.2"], reply.text
        engine.dispose()


def test_a_domain_that_fails_to_compile_keeps_its_zone(store_url: str) -> None:
    with dns_server(store_url, reload_interval=0.3) as server:
        before = serial(server)
        engine = open_store(store_url)
        with engine.begin() as conn:  # settings no compiler accepts ("-all" is not an own-server term)
            conn.execute(sa.update(domain_settings).where(domain_settings.c.domain == DOMAIN).values(
                settings={"domain": DOMAIN, "spf_own_terms": ["-all"]}))
        time.sleep(1.5)  # several reloads, each failing for example.edu
        assert server.proc.poll() is None
        reply = dig(server.port, f"9.100.51.198.in-addr._spf.{HZ}", "A")
        assert reply.status == "NOERROR" and reply.values("A") == ["127.0.0.2"]
        assert serial(server) == before
        # the other domain is still reloaded: a new approval there gives it a new serial
        org_before = serial(server, CHAINED_HZ)
        decide(engine, CHAINED, Subject.from_text("172.16.0.0/16"), Decision.APPROVED, "bob", "lab")
        reply = wait_for(lambda: dig(server.port, CHAINED_HZ, "SOA"),
                         lambda r: int(r.values("SOA")[0].split()[2]) > org_before, 10)
        assert int(reply.values("SOA")[0].split()[2]) == org_before + 1
        engine.dispose()
    assert f"ERROR zone reload: {DOMAIN}: compiling its publication failed" in server.log
