"""Robustness of ``dmarcpilot dns serve``: malformed, truncated, oversized and random packets.

    .venv/bin/python benchmarks/dns_fuzz.py [--packets 120000] [--seed 1] [--cache-size 20000] [--json]

Real queries (every record kind of a hosted zone, hits and misses, EDNS
with options, DO, TSIG-signed, AXFR, NOTIFY, UPDATE) are mutated: bit
flips, truncation, junk appended, random bytes, header counts, huge label
counts and over-long names, labels longer than 63, compression pointers
that loop or point past the end, oversized datagrams, mangled OPT records,
halves of two queries spliced. About one packet in eight goes over TCP,
several per connection, some with a wrong length prefix or a frame cut
short. The server runs in its own process (as in production); afterwards
it must still answer a valid query over UDP and TCP, must have counted no
internal error (``dmarcpilot_dns_events_total{event="error"}``: an
exception while answering), and its RSS must stay within a bound.

The generator and :func:`fuzz` are imported by ``tests/dnsserver/test_fuzz.py``
(5,000 packets); this script runs 120,000 and prints the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import select
import socket
import struct
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update
import psutil

HZ = "_dmarcpilot.example.edu"


def seed_queries(zone: str = HZ) -> list[bytes]:
    """Well-formed queries of every shape the server handles, as the starting points of mutation."""
    names = [zone, f"_dmarc.{zone}", f"s1._domainkey.{zone}", f"_mta-sts.{zone}", f"_smtp._tls.{zone}",
             f"9.100.51.198.in-addr._spf.{zone}", f"5.113.0.203.in-addr._spf.{zone}", f"9.9.9.9.in-addr._spf.{zone}",
             f"nope.{zone}", f"in-addr._spf.{zone}", "www.example.com", "example.edu"]
    out: list[bytes] = []
    for name in names:
        for rdtype in ("A", "TXT", "AAAA", "SOA", "NS", "ANY"):
            out.append(dns.message.make_query(name, rdtype).to_wire())
        out.append(dns.message.make_query(name, "TXT", use_edns=0, payload=4096, want_dnssec=True).to_wire())
        cookie = dns.edns.GenericOption(dns.edns.OptionType.COOKIE, b"\x01" * 8)
        out.append(dns.message.make_query(name, "A", use_edns=0, options=[cookie]).to_wire())
    key = dns.tsig.Key("fuzz.", "c2VjcmV0LWZvci10aGUtZG1hcmNwaWxvdC10ZXN0cw==", dns.tsig.HMAC_SHA256)
    for rdtype in ("AXFR", "IXFR", "TXT"):
        signed = dns.message.make_query(zone, rdtype)
        signed.use_tsig({key.name: key}, key.name)
        out.append(signed.to_wire())
    notify = dns.message.make_query(zone, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    out.append(notify.to_wire())
    update = dns.update.UpdateMessage(zone)
    update.add("x", 300, "A", "192.0.2.1")
    out.append(update.to_wire())
    out.append(dns.message.make_query(zone, "A", use_edns=1).to_wire())  # BADVERS
    return out


# ---------------------------------------------------------------------------- mutations

Mutator = Callable[[random.Random, bytes, list[bytes]], bytes]


def _flip(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    data = bytearray(wire)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(data))
        data[position] ^= 1 << rng.randrange(8)
    return bytes(data)


def _truncate(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    return wire[:rng.randrange(len(wire))]


def _append(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    return wire + rng.randbytes(rng.randint(1, 300))


def _random(rng: random.Random, _wire: bytes, _seeds: list[bytes]) -> bytes:
    data = bytearray(rng.randbytes(rng.randint(0, 700)))
    if len(data) > 2 and rng.random() < 0.5:
        data[2] &= 0x7F  # QR=0 half the time, so the parser goes further than the first byte
    return bytes(data)


def _counts(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    counts = [rng.choice((0, 1, 2, 255, 65535, rng.randrange(65536))) for _ in range(4)]
    return wire[:4] + struct.pack("!HHHH", *counts) + wire[12:]


def _labels(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    """Huge label counts: up to 400 labels (the name limit is 255 octets, 127 labels)."""
    name = b"".join(bytes((n,)) + rng.randbytes(n) for n in (rng.randint(1, 3) for _ in range(rng.randint(100, 400))))
    return wire[:12] + name + b"\x00" + struct.pack("!HH", 1, 1)


def _long_label(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    length = rng.randint(64, 255)  # 64..191 are reserved label types, 192+ a pointer
    return wire[:12] + bytes((length,)) + rng.randbytes(rng.randint(0, 300)) + b"\x00\x00\x01\x00\x01"


def _compression(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    shapes = [
        b"\xc0\x0c",  # a pointer to itself
        b"\x01a\xc0\x0e",  # a label, then a pointer to that pointer
        b"\x01a\xc0\x0c",  # back to the start: a loop through a label
        b"\xc0\xff",  # past the end
        b"\x01a\x01b\xc0\x0e\xc0\x0c",
        bytes((0xC0 | rng.randrange(64), rng.randrange(256))),
    ]
    question = rng.choice(shapes) + struct.pack("!HH", rng.choice((1, 16, 252)), 1)
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x00\x00\x04\x7f\x00\x00\x01" if rng.random() < 0.5 else b""
    header = wire[:4] + struct.pack("!HHHH", 1, 1 if answer else 0, 0, 0)
    return header + question + answer


def _oversized(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    return wire + bytes(rng.choice((600, 1300, 4100, 20000, 65000)))


def _opt(rng: random.Random, wire: bytes, _seeds: list[bytes]) -> bytes:
    """A question then an OPT whose lengths lie (or several OPTs)."""
    question_end = 12
    while question_end < len(wire) and wire[question_end]:
        question_end += wire[question_end] + 1
    base = wire[:10] + struct.pack("!H", rng.randint(1, 3)) + wire[12:question_end + 5]
    rdlength = rng.choice((0, 4, 8, 100, 65535))
    option_length = rng.choice((0, 4, 200, 65535))
    options = struct.pack("!HH", rng.randrange(65536), option_length) + rng.randbytes(rng.randint(0, 12))
    opt = b"\x00" + struct.pack("!HHBBHH", 41, rng.randrange(65536), rng.randrange(256), rng.choice((0, 0, 1, 255)),
                                rng.randrange(65536), rdlength) + options
    return base + opt * rng.randint(1, 2)


def _splice(rng: random.Random, wire: bytes, seeds: list[bytes]) -> bytes:
    other = rng.choice(seeds)
    return wire[:rng.randrange(len(wire))] + other[rng.randrange(len(other)):]


MUTATORS: list[Mutator] = [_flip, _flip, _flip, _truncate, _append, _random, _counts, _labels, _long_label,
                           _compression, _oversized, _opt, _splice]


def packets(rng: random.Random, seeds: list[bytes], count: int) -> Iterator[bytes]:
    """``count`` packets: mostly mutants, one in twenty a seed as it is."""
    for _ in range(count):
        wire = rng.choice(seeds)
        yield wire if rng.random() < 0.05 else rng.choice(MUTATORS)(rng, wire, seeds)


# ---------------------------------------------------------------------------- running


@dataclass
class FuzzReport:
    packets: int = 0
    udp: int = 0
    tcp_messages: int = 0
    tcp_connections: int = 0
    udp_replies: int = 0
    rcodes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    rss_start_mb: float = 0.0
    rss_peak_mb: float = 0.0
    rss_end_mb: float = 0.0
    still_answers: bool = False
    internal_errors: int | None = None

    @property
    def rss_growth_mb(self) -> float:
        return self.rss_end_mb - self.rss_start_mb

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["rcodes"] = dict(self.rcodes.most_common())
        out["rss_growth_mb"] = round(self.rss_growth_mb, 1)
        return out


def _drain(sock: socket.socket, report: FuzzReport, wait: float) -> None:
    while select.select([sock], [], [], wait)[0]:
        try:
            reply = sock.recv(65535)
        except BlockingIOError:
            return
        report.udp_replies += 1
        if len(reply) >= 4:
            report.rcodes[dns.rcode.to_text(dns.rcode.Rcode.make(reply[3] & 0xF))] += 1
        wait = 0.0


def _tcp_session(port: int, messages: list[bytes], rng: random.Random) -> None:
    """Length-prefixed messages on one connection; sometimes a lying prefix or a frame cut short.

    The server may close first (it does on a message it cannot answer at all, RFC 7766 §7): the
    client's errors after that are expected.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        try:
            for wire in messages:
                prefix = len(wire) if rng.random() < 0.9 else rng.randrange(65536)
                conn.sendall(struct.pack("!H", prefix) + wire[:65535])
            if rng.random() < 0.3:
                conn.sendall(b"\x01")  # half a length: the server waits, then sees the end of the stream
            conn.shutdown(socket.SHUT_WR)  # the server answers what it got, then closes
            while conn.recv(65535):
                pass
        except OSError:  # reset or broken pipe: the server closed first
            pass


def valid_answers(port: int) -> bool:
    query = dns.message.make_query(f"_dmarc.{HZ}", "TXT")
    udp = dns.query.udp(query, "127.0.0.1", port=port, timeout=3)
    tcp = dns.query.tcp(query, "127.0.0.1", port=port, timeout=3)
    return all(r.rcode() == dns.rcode.NOERROR and r.answer and r.flags & dns.flags.AA for r in (udp, tcp))


def internal_errors(metrics: str | None) -> int | None:
    if metrics is None:
        return None
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith('dmarcpilot_dns_events_total{event="error"}'):
                return int(float(line.rsplit(" ", 1)[1]))
    return None


def fuzz(port: int, pid: int, count: int, seed: int = 1, metrics: str | None = None,
         progress: Callable[[str], None] | None = None) -> FuzzReport:
    """Send ``count`` packets to 127.0.0.1:``port`` (server process ``pid``) and report."""
    rng = random.Random(seed)
    seeds = seed_queries()
    server = psutil.Process(pid)
    report = FuzzReport()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    start = time.perf_counter()
    pending_tcp: list[bytes] = []
    warmup = min(2000, count // 10)
    for index, wire in enumerate(packets(rng, seeds, count)):
        report.packets += 1
        if rng.random() < 0.125:
            pending_tcp.append(wire)
            if len(pending_tcp) >= rng.randint(1, 8):
                _tcp_session(port, pending_tcp, rng)
                report.tcp_messages += len(pending_tcp)
                report.tcp_connections += 1
                pending_tcp = []
            continue
        try:
            sock.sendto(wire, ("127.0.0.1", port))
            report.udp += 1
        except OSError:  # a datagram over 65507 octets (IPv4) cannot be sent at all
            pass
        if index % 64 == 63:  # pace to the server, or the kernel drops what it cannot queue
            _drain(sock, report, 0.02)
        if index == warmup:
            report.rss_start_mb = server.memory_info().rss / 2**20
        if index % 5000 == 4999:
            rss = server.memory_info().rss / 2**20
            report.rss_peak_mb = max(report.rss_peak_mb, rss)
            if progress is not None:
                progress(f"{index + 1} packets, server RSS {rss:.1f} MB, {report.udp_replies} UDP replies")
    _drain(sock, report, 0.5)
    sock.close()
    report.seconds = time.perf_counter() - start
    report.rss_end_mb = server.memory_info().rss / 2**20
    report.rss_peak_mb = max(report.rss_peak_mb, report.rss_end_mb)
    report.still_answers = server.is_running() and valid_answers(port)
    report.internal_errors = internal_errors(metrics)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--packets", type=int, default=120_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-size", type=int, default=20_000)
    parser.add_argument("--rss-bound-mb", type=float, default=40.0, help="allowed RSS growth after warm-up")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from dns_bench import make_store, start_server  # the same store and server start as the speed benchmark

    with tempfile.TemporaryDirectory(prefix="dns-fuzz-") as tmp:
        url = make_store(Path(tmp))
        with start_server(url, cpu=None, extra=("--metrics", "127.0.0.1:0", "--cache-size", str(args.cache_size))) \
                as (proc, port, metrics):
            report = fuzz(port, proc.pid, args.packets, args.seed, metrics,
                          progress=lambda line: print(f"[fuzz] {line}", file=sys.stderr))
            alive = proc.poll() is None
    ok = alive and report.still_answers and report.internal_errors == 0 and report.rss_growth_mb < args.rss_bound_mb
    if args.json:
        print(json.dumps({**report.to_dict(), "ok": ok}, indent=2))
    else:
        print(f"packets sent          {report.packets:,} ({report.udp:,} UDP, {report.tcp_messages:,} TCP messages "
              f"on {report.tcp_connections:,} connections) in {report.seconds:.1f} s")
        print(f"UDP replies           {report.udp_replies:,}: " +
              ", ".join(f"{k} {v:,}" for k, v in report.rcodes.most_common()))
        print(f"server RSS            {report.rss_start_mb:.1f} MB after warm-up, peak {report.rss_peak_mb:.1f} MB, "
              f"end {report.rss_end_mb:.1f} MB (growth {report.rss_growth_mb:+.1f} MB, bound {args.rss_bound_mb})")
        print(f"internal errors       {report.internal_errors}")
        print(f"still answers (UDP+TCP) {report.still_answers}; process alive {alive}")
        print("OK" if ok else "PROBLEM")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
