"""Hostile packets never crash the server, never raise inside it, and never grow its memory past a bound.

The small version of ``benchmarks/dns_fuzz.py`` (120,000 packets there):
5,000 mutated packets over UDP and TCP against a server process, then a
valid query over each transport.
"""

from __future__ import annotations

import random

import dns.message
from benchmarks.dns_fuzz import MUTATORS, fuzz, packets, seed_queries

from tests.dnsserver.helpers import dns_server


def test_mutations_cover_every_kind_and_differ_from_the_seeds() -> None:
    rng = random.Random(3)
    seeds = seed_queries()
    assert len(seeds) > 80
    for mutator in set(MUTATORS):
        outputs = [mutator(rng, seed, seeds) for seed in seeds]
        assert sum(out != seed for out, seed in zip(outputs, seeds, strict=True)) > len(seeds) // 2, mutator.__name__
    broken = 0
    for wire in packets(random.Random(4), seeds, 2000):
        try:
            dns.message.from_wire(wire)
        except Exception:
            broken += 1
    assert broken > 1000  # most packets are malformed: the test exercises the error paths, not the cache


def test_five_thousand_hostile_packets(store_url: str) -> None:
    with dns_server(store_url, "--metrics", "127.0.0.1:0", "--cache-size", "2000") as server:
        report = fuzz(server.port, server.proc.pid, 5000, seed=7, metrics=server.metrics)
        assert server.proc.poll() is None
    print(report.to_dict())
    assert report.packets == 5000 and report.tcp_messages > 300 and report.udp > 4000
    assert report.still_answers  # a valid query over UDP and TCP after all that
    assert report.internal_errors == 0, server.log[-3000:]  # every packet handled without an exception
    assert {"FORMERR", "NOERROR", "REFUSED"} <= set(report.rcodes)
    assert report.rss_growth_mb < 15, report.to_dict()
    assert "Traceback" not in server.log
