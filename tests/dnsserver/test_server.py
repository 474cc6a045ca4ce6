"""``dmarcpilot dns serve`` answering real clients (dig, kdig) for every record kind, over UDP and TCP."""

from __future__ import annotations

import re
import signal
import urllib.request
from collections.abc import Iterator

import pytest

from dmarcpilot.policy.dkimkeys import DkimKeyPair
from tests.dnsserver.conftest import make_store
from tests.dnsserver.helpers import (
    BIG_SELECTOR,
    CHAINED_HZ,
    HZ,
    SELECTOR,
    ServerProcess,
    dig,
    dns_server,
    txt,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, dkim_keys: dict[str, DkimKeyPair]) -> Iterator[ServerProcess]:
    url = make_store(tmp_path_factory.mktemp("dns"), dkim_keys)
    with dns_server(url, "--metrics", "127.0.0.1:0") as process:
        yield process


def _expected(keys: dict[str, DkimKeyPair]) -> list[tuple[str, str, str]]:
    """(name, type, value) the hosted zones must answer: one of every kind of record dmarcpilot publishes."""
    return [
        (f"_c1.{CHAINED_HZ}", "TXT", "v=spf1 ip4:10.0.0.0/16 "),  # SPF, chained (a prefix)
        (f"9.100.51.198.in-addr._spf.{HZ}", "A", "127.0.0.2"),  # SPF exists tree, from a wildcard
        (f"f.f.f.f.f.f.f.f.f.f.f.f.f.f.f.f.f.f.f.b.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.{HZ}", "A", "127.0.0.2"),  # IPv6
        (f"77.113.0.203.in-addr._spf.{HZ}", "A", "127.0.0.2"),  # SPF exists tree, one name of a /25
        (f"_dmarc.{HZ}", "TXT", "v=DMARC1; p=none; rua=mailto:dmarc@example.edu"),
        (f"{SELECTOR}._domainkey.{HZ}", "TXT", keys[SELECTOR].record.to_text()),
        (f"_mta-sts.{HZ}", "TXT", "v=STSv1; id="),  # a prefix: the id is a digest of the policy
        (f"_smtp._tls.{HZ}", "TXT", "v=TLSRPTv1; rua=mailto:tls@example.edu"),
    ]


@pytest.mark.parametrize("client", ["dig", "kdig"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_record_kind(server: ServerProcess, dkim_keys: dict[str, DkimKeyPair], client: str,
                           transport: str) -> None:
    options = ("+tcp",) if transport == "tcp" else ()
    for name, rdtype, value in _expected(dkim_keys):
        reply = dig(server.port, name, rdtype, *options, client=client)
        assert reply.status == "NOERROR", reply.text
        assert "aa" in reply.flags and "ra" not in reply.flags and "tc" not in reply.flags, reply.text
        assert [r[0] for r in reply.answer] == [name.lower() + "."], reply.text  # the queried name, even synthesised
        got = reply.values(rdtype)
        assert len(got) == 1, reply.text
        shown = txt(got[0]) if rdtype == "TXT" else got[0]
        assert shown == value or (value.endswith((" ", "=")) and shown.startswith(value)), reply.text
        assert f"({transport.upper()})" in reply.text, reply.text


@pytest.mark.parametrize("client", ["dig", "kdig"])
def test_apex_soa_and_ns(server: ServerProcess, client: str) -> None:
    serial = server.startup["zones"][HZ]
    soa = dig(server.port, HZ, "SOA", client=client)
    assert soa.status == "NOERROR" and "aa" in soa.flags
    assert soa.values("SOA")[0].split()[:3] == ["ns1.dp.example.", "hostmaster.example.edu.", str(serial)]
    ns = dig(server.port, HZ, "NS", "+tcp", client=client)
    assert sorted(ns.values("NS")) == ["ns1.dp.example.", "ns2.dp.example."]


@pytest.mark.parametrize("client", ["dig", "kdig"])
def test_negative_answers_carry_the_soa(server: ServerProcess, client: str) -> None:
    miss = dig(server.port, f"9.9.9.9.in-addr._spf.{HZ}", "A", client=client)  # an address not approved
    assert miss.status == "NXDOMAIN" and "aa" in miss.flags and miss.answer == ()
    assert [(r[0], r[1], r[3]) for r in miss.authority] == [(HZ + ".", "300", "SOA")]  # RFC 2308 §3: min(3600, 300)
    nodata = dig(server.port, f"_dmarc.{HZ}", "A", client=client)
    assert nodata.status == "NOERROR" and nodata.answer == () and [r[3] for r in nodata.authority] == ["SOA"]
    ent = dig(server.port, f"in-addr._spf.{HZ}", "TXT", client=client)  # an empty non-terminal: NODATA
    assert ent.status == "NOERROR" and ent.answer == () and [r[3] for r in ent.authority] == ["SOA"]


@pytest.mark.parametrize("client", ["dig", "kdig"])
def test_outside_the_zones_is_refused(server: ServerProcess, client: str) -> None:
    for name in ("www.example.com", "example.edu", "edu"):
        reply = dig(server.port, name, "A", "+recurse", client=client)
        assert reply.status == "REFUSED" and "ra" not in reply.flags and "aa" not in reply.flags, reply.text


def test_case_is_preserved(server: ServerProcess) -> None:
    """dig sends the name as typed (kdig lowers it): question and answer come back in that case (RFC 4343)."""
    for name in (f"_DMARC.{HZ.upper()}", f"9.100.51.198.In-Addr._Spf.{HZ}"):
        for _ in range(2):  # the second answer comes from the cache, filled by the first
            reply = dig(server.port, name, "TXT" if name.startswith("_") else "A")
            assert re.search(rf"^;{re.escape(name)}\.\s+IN\s", reply.text, re.M), reply.text
            assert re.match(rf"{re.escape(name)}\.\s", reply.text.split(";; ANSWER SECTION:\n")[1]), reply.text


def test_truncated_answer_retried_over_tcp_by_dig(server: ServerProcess, dkim_keys: dict[str, DkimKeyPair]) -> None:
    name = f"{BIG_SELECTOR}._domainkey.{HZ}"
    record = dkim_keys[BIG_SELECTOR].record.to_text()
    assert len(record) > 512
    truncated = dig(server.port, name, "TXT", "+bufsize=512", "+ignore")  # +ignore: show the UDP answer as is
    assert "tc" in truncated.flags and truncated.answer == () and "(UDP)" in truncated.text
    retried = dig(server.port, name, "TXT", "+bufsize=512")  # without +ignore dig retries over TCP itself
    assert ";; Truncated, retrying in TCP mode." in retried.text
    assert "tc" not in retried.flags and "(TCP)" in retried.text
    assert txt(retried.values("TXT")[0]) == record
    plain = dig(server.port, name, "TXT", "+noedns")  # 512 octets without EDNS too (RFC 1035 §4.2.1)
    assert ";; Truncated, retrying in TCP mode." in plain.text and txt(plain.values("TXT")[0]) == record
    fits = dig(server.port, name, "TXT", "+bufsize=1232")  # fits our 1232 over UDP
    assert "(UDP)" in fits.text and txt(fits.values("TXT")[0]) == record


def test_truncated_answer_retried_over_tcp_by_kdig(server: ServerProcess, dkim_keys: dict[str, DkimKeyPair]) -> None:
    name = f"{BIG_SELECTOR}._domainkey.{HZ}"
    truncated = dig(server.port, name, "TXT", "+bufsize=512", "+ignore", client="kdig")
    assert "tc" in truncated.flags and truncated.answer == ()
    retried = dig(server.port, name, "TXT", "+bufsize=512", client="kdig")
    assert "(TCP)" in retried.text and txt(retried.values("TXT")[0]) == dkim_keys[BIG_SELECTOR].record.to_text()


def test_metrics_count_what_was_answered(server: ServerProcess) -> None:
    dig(server.port, f"nope.{HZ}", "AAAA")
    assert server.metrics is not None
    with urllib.request.urlopen(f"http://{server.metrics}/metrics", timeout=5) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    counters = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line and not line.startswith("#")}
    assert counters['dmarcpilot_dns_responses_total{rcode="NXDOMAIN"}'] >= 1
    assert counters['dmarcpilot_dns_queries_total{qtype="AAAA"}'] >= 1
    assert counters['dmarcpilot_dns_queries_by_transport_total{transport="udp"}'] >= 1
    assert counters[f'dmarcpilot_dns_zone_serial{{zone="{HZ}"}}'] == server.startup["zones"][HZ]
    assert counters['dmarcpilot_dns_events_total{event="error"}'] == 0
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(f"http://{server.metrics}/other", timeout=5)


def test_ipv6_listener_and_sigint(store_url: str) -> None:
    with dns_server(store_url, "--listen", "[::1]:0") as server:
        assert server.startup["listen"][0].startswith("127.0.0.1:")
        v6 = server.startup["listen"][1]
        assert v6.startswith("[::1]:")
        port = int(v6.rsplit(":", 1)[1])
        for options in ((), ("+tcp",)):
            reply = dig(port, f"_dmarc.{HZ}", "TXT", *options, server="::1", client="kdig")
            assert reply.status == "NOERROR" and reply.values("TXT"), reply.text
        server.proc.send_signal(signal.SIGINT)
        server.proc.wait(15)  # dns_server asserts the exit status: 0
    assert "INFO stopped" in server.log
