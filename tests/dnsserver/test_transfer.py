"""AXFR/IXFR to dig and kdig: allowed by address and TSIG, refused otherwise; the messages as dnspython reads them."""

from __future__ import annotations

import asyncio
import ipaddress
import subprocess
from collections import Counter

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig
import pytest

from dmarcpilot.dnsserver.authority import Authority, Zone
from dmarcpilot.dnsserver.responder import Responder
from dmarcpilot.dnsserver.transfer import TransferPolicy, notify_message
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.policy.publish import publication_digest, zone_records
from dmarcpilot.policy.publisher import publication
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.store.db import open_store
from dmarcpilot.store.publishing import zone_serial
from tests.dnsserver.helpers import DOMAIN, HZ, TSIG_NAME, TSIG_SECRET, dns_server, require

WRONG_SECRET = "d3JvbmctZm9yLXRoZS1kbWFyY3BpbG90LXRlc3RzIQ=="


def expected_zone(store_url: str) -> list[ZoneRecord]:
    engine = open_store(store_url)
    pub, _ = asyncio.run(publication(engine, DOMAIN, load_catalogue()))
    records = zone_records(pub, zone_serial(engine, HZ, publication_digest(pub)))
    engine.dispose()
    return records


def xfr(port: int, *options: str, client: str = "dig", rdtype: str = "AXFR") -> subprocess.CompletedProcess[str]:
    command = [require(client), "@127.0.0.1", "-p", str(port), HZ, rdtype, *options]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


def records_of(output: str) -> list[tuple[str, str]]:
    rows = [line.split(None, 4) for line in output.splitlines() if line and not line.startswith(";")]
    return [(r[0].lower().rstrip("."), r[3]) for r in rows if len(r) >= 4 and r[3] != "TSIG"]


def assert_full_transfer(output: str, store_url: str) -> None:
    records = records_of(output)
    expected = expected_zone(store_url)
    assert records[0] == (HZ, "SOA") and records[-1] == (HZ, "SOA"), output[-2000:]  # RFC 5936 §2.2
    # TXT records split into several strings are one record; RRsets of several records are several lines
    assert Counter(records[:-1]) == Counter((r.name, r.rdtype) for r in expected)


def test_axfr_allowed_by_address_refused_otherwise(store_url: str) -> None:
    with dns_server(store_url, "--allow-transfer", "127.0.0.1/32") as server:
        done = xfr(server.port)
        assert done.returncode == 0, done.stdout + done.stderr
        assert_full_transfer(done.stdout, store_url)
        assert "(messages 2," in done.stdout or "(messages 3," in done.stdout  # several messages: 384 SPF names
        other = xfr(server.port, "-b", "127.0.0.2", client="kdig")  # from another loopback address
        assert "server replied with error 'REFUSED'" in other.stderr, other.stdout + other.stderr
        ixfr = xfr(server.port, rdtype="IXFR=1")  # RFC 1995 §4: answered with the whole zone
        assert ixfr.returncode == 0 and records_of(ixfr.stdout) == records_of(done.stdout)
    assert "zone transfer refused: 127.0.0.2 is not in --allow-transfer" in server.log


def test_axfr_refused_to_everyone_by_default(store_url: str) -> None:
    with dns_server(store_url) as server:
        assert "Transfer failed." in xfr(server.port).stdout
        assert "server replied with error 'REFUSED'" in xfr(server.port, client="kdig").stderr


@pytest.mark.parametrize("client", ["dig", "kdig"])
def test_axfr_with_tsig(store_url: str, client: str) -> None:
    key = f"hmac-sha256:{TSIG_NAME}:{TSIG_SECRET}"
    with dns_server(store_url, "--allow-transfer", "127.0.0.0/8",
                    "--tsig-key", f"{TSIG_NAME}:hmac-sha256:{TSIG_SECRET}") as server:
        signed = xfr(server.port, "-y", key, client=client)  # the client verifies every message's MAC
        assert signed.returncode == 0 and "ERROR" not in signed.stderr, signed.stdout + signed.stderr
        assert_full_transfer(signed.stdout, store_url)
        assert signed.stdout.count("\tTSIG\t") >= 2  # one per message, each signed (RFC 8945 §5.3.1)
        unsigned = xfr(server.port, client="kdig")
        assert "server replied with error 'REFUSED'" in unsigned.stderr
        forged = xfr(server.port, "-y", f"hmac-sha256:{TSIG_NAME}:{WRONG_SECRET}", client="kdig")
        assert "server replied with error 'NOTAUTH'" in forged.stderr  # RFC 8945 §5.2
        unknown = xfr(server.port, "-y", f"hmac-sha256:other-key:{TSIG_SECRET}", client="kdig")
        assert "server replied with error 'NOTAUTH'" in unknown.stderr


# ------------------------------------------------------------------- in process, read by dnspython

KEY = dns.tsig.Key(TSIG_NAME, TSIG_SECRET, dns.tsig.HMAC_SHA256)
SOA = "ns1.dp.example. hostmaster.example.edu. 7 3600 600 1209600 300"


def big_zone() -> Zone:
    names = [ZoneRecord(f"{i}.113.0.203.in-addr._spf.{HZ}", "A", "127.0.0.2") for i in range(600)]
    return Zone.from_records(HZ, [ZoneRecord(HZ, "SOA", SOA), ZoneRecord(HZ, "NS", "ns1.dp.example."), *names])


def test_multi_message_transfer_verifies_with_dnspython() -> None:
    zone = big_zone()
    responder = Responder(Authority.of([zone]), transfers=TransferPolicy((ipaddress.ip_network("::1/128"),),
                                                                          KEY))
    query = dns.message.make_query(HZ, "AXFR")
    query.use_tsig({KEY.name: KEY}, KEY.name)
    messages = responder.answer(query.to_wire(), "::1", True)
    assert len(messages) >= 3
    tsig_ctx, request_mac, rrsets = None, query.mac, []
    for index, wire in enumerate(messages):  # as dns.xfr reads a transfer: each MAC chained to the previous
        message = dns.message.from_wire(wire, keyring={KEY.name: KEY}, request_mac=request_mac, xfr=True,
                                        tsig_ctx=tsig_ctx, multi=True, one_rr_per_rrset=True)
        tsig_ctx = message.tsig_ctx
        assert message.had_tsig and message.rcode() == dns.rcode.NOERROR
        assert len(message.question) == (1 if index == 0 else 0)  # RFC 5936 §2.2.1
        rrsets.extend(message.answer)
    assert sum(len(r) for r in rrsets) == 600 + 1 + 2  # the names, the NS, the SOA twice
    assert rrsets[0].rdtype == rrsets[-1].rdtype == dns.rdatatype.SOA


def test_transfer_refusals_in_process() -> None:
    zone = big_zone()
    policy = TransferPolicy((ipaddress.ip_network("127.0.0.0/8"),))
    responder = Responder(Authority.of([zone]), transfers=policy)

    def rcode(query: dns.message.Message, peer: str = "127.0.0.1", tcp: bool = True) -> dns.rcode.Rcode:
        replies = responder.answer(query.to_wire(), peer, tcp)
        return dns.message.from_wire(replies[0]).rcode()

    assert rcode(dns.message.make_query(HZ, "AXFR"), peer="192.0.2.1") == dns.rcode.REFUSED
    assert rcode(dns.message.make_query(HZ, "AXFR"), peer="::ffff:127.0.0.1") == dns.rcode.NOERROR  # mapped
    assert rcode(dns.message.make_query(f"sub.{HZ}", "AXFR")) == dns.rcode.NOTAUTH  # not a zone apex
    assert rcode(dns.message.make_query(HZ, "AXFR"), tcp=False) == dns.rcode.REFUSED  # RFC 5936 §4.2
    over_udp = dns.message.from_wire(responder.answer(dns.message.make_query(HZ, "IXFR").to_wire(),
                                                      "127.0.0.1", False)[0])
    assert [r.rdtype for r in over_udp.answer] == [dns.rdatatype.SOA]  # RFC 1995 §2: the SOA alone over UDP


def test_notify_message_shape() -> None:
    message = notify_message(big_zone(), KEY)
    assert message.opcode() == dns.opcode.NOTIFY and message.flags & dns.flags.AA  # RFC 1996 §3.3
    assert message.question[0].rdtype == dns.rdatatype.SOA and message.answer[0][0].serial == 7  # §3.7
    parsed = dns.message.from_wire(message.to_wire(), keyring={KEY.name: KEY})
    assert parsed.had_tsig
