"""A real secondary: NSD transfers the zone from us, takes NOTIFY, and answers exactly as we do.

NSD (Debian's ``nsd``) runs in the foreground with a configuration in a
temporary directory: the hosted zone as a secondary with ``request-xfr``
pointing at our server and ``allow-notify`` from it, with or without the
TSIG key. Its SOA refresh is an hour, so a new serial showing up within
seconds can only come from our NOTIFY (RFC 1996).
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dmarcpilot.dnsserver.transport import bind_pair
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.db import open_store
from tests.dnsserver.helpers import (
    DOMAIN,
    HZ,
    TSIG_NAME,
    TSIG_SECRET,
    Reply,
    dns_server,
    nsd_conf,
    parse_reply,
    require,
)
from tests.dnsserver.test_transfer import expected_zone

KEY_SECTION = f'key:\n    name: "{TSIG_NAME}"\n    algorithm: hmac-sha256\n    secret: "{TSIG_SECRET}"\n'


def free_port() -> int:
    udp, tcp = bind_pair("127.0.0.1", 0)
    port = int(udp.getsockname()[1])
    udp.close()
    tcp.close()
    return port


@contextmanager
def nsd(directory: Path, port: int, primary: int, tsig: bool) -> Iterator[subprocess.Popen[str]]:
    conf = directory / "nsd.conf"
    key_name = TSIG_NAME if tsig else "NOKEY"
    conf.write_text(nsd_conf(port, directory, HZ, server=(f'xfrdir: "{directory}"', "verbosity: 2",
                                                          "minimal-responses: yes"),
                             zone_lines=(f"request-xfr: 127.0.0.1@{primary} {key_name}",
                                         f"allow-notify: 127.0.0.1 {key_name}"),
                             key=KEY_SECTION if tsig else ""))
    checked = subprocess.run([require("nsd-checkconf"), str(conf)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    proc = subprocess.Popen([require("nsd"), "-d", "-c", str(conf)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ask_many(port: int, queries: list[tuple[str, str]]) -> list[Reply]:
    """One kdig run for many questions (kdig lowers names; the order of the replies is the queries')."""
    args = [part for name, rdtype in queries for part in (name, rdtype)]
    done = subprocess.run([require("kdig"), "@127.0.0.1", "-p", str(port), "+norecurse", "+timeout=2", "+retry=2",
                           "+noedns", "+tcp", *args], capture_output=True, text=True, timeout=120, check=False)
    chunks = re.split(r"(?=^;; ->>HEADER<<-)", done.stdout, flags=re.M)[1:]
    assert len(chunks) == len(queries), done.stdout[-3000:] + done.stderr
    return [parse_reply(chunk) for chunk in chunks]


def soa_serial(port: int) -> int | None:
    try:
        reply = ask_many(port, [(HZ, "SOA")])[0]
    except AssertionError:  # NSD not listening yet
        return None
    values = reply.values("SOA")
    return int(values[0].split()[2]) if reply.status == "NOERROR" and values else None


def wait_serial(port: int, serial: int, seconds: float) -> int | None:
    deadline = time.monotonic() + seconds
    seen = None
    while time.monotonic() < deadline:
        seen = soa_serial(port)
        if seen == serial:
            return seen
        time.sleep(0.2)
    return seen


def probes(store_url: str) -> list[tuple[str, str]]:
    """Every (name, type) of the zone, each name asked for other types too, and names that do not exist."""
    records = expected_zone(store_url)
    names = sorted({r.name for r in records})
    queries = sorted({(r.name, r.rdtype) for r in records})
    queries += [(name, rdtype) for name in names for rdtype in ("TXT", "A", "AAAA") if (name, rdtype) not in queries]
    queries += [(name.replace("*", "synth"), "A") for name in names if name.startswith("*.")]
    queries += [(f"deeper.{name.replace('*', 'x')}", "A") for name in names[:40]]
    queries += [(f"in-addr._spf.{HZ}", "A"), (f"_spf.{HZ}", "TXT"), (f"9.9.9.9.in-addr._spf.{HZ}", "A"),
                (f"nope.{HZ}", "TXT"), (f"_domainkey.{HZ}", "TXT"), (f"x.*.100.51.198.in-addr._spf.{HZ}", "A")]
    return queries


def same_answers(ours: int, theirs: int, queries: list[tuple[str, str]]) -> None:
    mine, nsds = ask_many(ours, queries), ask_many(theirs, queries)
    for (name, rdtype), a, b in zip(queries, mine, nsds, strict=True):
        assert a.status == b.status, f"{name} {rdtype}: ours {a.status}, NSD {b.status}\n{a.text}\n{b.text}"
        assert sorted(a.answer) == sorted(b.answer), f"{name} {rdtype}:\n{a.text}\n{b.text}"
        assert ("aa" in a.flags) == ("aa" in b.flags), f"{name} {rdtype}"
        if not a.answer:  # negative answers: the SOA, with the negative TTL (RFC 2308 §3)
            assert a.authority == b.authority, f"{name} {rdtype}:\n{a.text}\n{b.text}"


@pytest.mark.parametrize("tsig", [False, True], ids=["nokey", "tsig"])
def test_nsd_transfers_after_notify_and_answers_like_us(store_url: str, tmp_path: Path, tsig: bool) -> None:
    nsd_port = free_port()
    key_args = ("--tsig-key", f"{TSIG_NAME}:hmac-sha256:{TSIG_SECRET}") if tsig else ()
    with dns_server(store_url, "--allow-transfer", "127.0.0.1/32", "--notify", f"127.0.0.1:{nsd_port}",
                    *key_args, reload_interval=0.5) as server:
        first = int(server.startup["zones"][HZ])
        with nsd(tmp_path, nsd_port, server.port, tsig) as proc:
            got = wait_serial(nsd_port, first, 30)  # NSD transfers a zone it has no data for at start
            assert got == first, (tmp_path / "nsd.log").read_text() if (tmp_path / "nsd.log").exists() else ""
            queries = probes(store_url)
            assert len(queries) > 1000  # 390 names x 3 types, and the misses
            same_answers(server.port, nsd_port, queries)
            engine = open_store(store_url)
            decide(engine, DOMAIN, Subject.from_text("233.252.0.0/24"), Decision.APPROVED, "bob", "new relay")
            engine.dispose()
            got = wait_serial(nsd_port, first + 1, 20)  # refresh is 3600 s: only NOTIFY brings it this fast
            assert got == first + 1, (tmp_path / "nsd.log").read_text()
            same_answers(server.port, nsd_port, [(f"7.0.252.233.in-addr._spf.{HZ}", "A"), *queries[:50]])
            assert proc.poll() is None
    assert f"NOTIFY {HZ} serial {first + 1} to 127.0.0.1:{nsd_port}: acknowledged" in server.log
    log = (tmp_path / "nsd.log").read_text()
    assert "notify" in log.lower() and str(first + 1) in log
