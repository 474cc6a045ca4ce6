"""SPF compiler at scale: 100 approved services (about 2,000 prefixes), then check_host() on the result.

    .venv/bin/python benchmarks/spf_compile_bench.py [--services 100] [--checks 100000] [--json]

A deterministic world of ``--services`` vendors (20 prefixes each, seven in
ten IPv4; every tenth vendor splits its ranges over two nested includes,
others write one range as ``a:`` or ``mx`` with a CIDR; three cannot be
flattened: two start with a ``-ip4:`` exclusion, one lists single senders
with ``exists:%{i}...``) lives in a
``StaticDnsClient``. The script times ``resolve``, ``compile_spf`` in the
exists form and a conventional attempt, ``prove`` with its default sample,
and writing the zone (SOA and NS at the apex, as ``zone_records`` does) as
a master file. Then ``check_host()`` runs ``--checks`` times over a mix of
1,000 addresses (approved and not, IPv4 and IPv6) against the compiled
exists record, answered from memory: a ``ZoneClient`` over the compiled
zone in front of the ``StaticDnsClient``. If pyspf is importable (``pip
install pyspf``; not a dependency) it runs the same cases in the same
process, its ``spf.DNSLookup`` hook answering from the same two objects,
and the ratio is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import platform
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from dmarcpilot.dnsclient import DnsAnswer, DnsStatus, StaticDnsClient, normalize_name
from dmarcpilot.policy.publish import SOA_TIMERS, master_file
from dmarcpilot.policy.spfcompile import SpfCompileError, SpfMode, SpfPolicy, compile_spf, resolve
from dmarcpilot.policy.spfproof import prove
from dmarcpilot.policy.zone import ZoneClient, ZoneRecord
from dmarcpilot.spf import SpfResult, check_host

DOMAIN = "example.edu"
ZONE = f"_dmarcpilot.{DOMAIN}"
SENDER = f"bounce@{DOMAIN}"
HELO = "mail.example.org"
PREFIXES_PER_SERVICE = 20
V4_LENGTHS = (24, 24, 24, 24, 22, 23, 25, 26, 28, 29, 30, 32, 32, 20)
V6_LENGTHS = (48, 48, 48, 40, 44, 47, 56, 64, 64, 126, 128)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# --------------------------------------------------------------------------- the world


@dataclass
class World:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)
    approved: list[IPNetwork] = field(default_factory=list)  # every range a service authorises
    approved_hosts: list[IPAddress] = field(default_factory=list)  # authorised only through a kept include
    gaps: list[IPNetwork] = field(default_factory=list)  # slots between the ranges: never authorised

    def add(self, name: str, rdtype: str, value: str) -> None:
        self.records.setdefault((name, rdtype), []).append(value)


class Slots:
    """Non-adjacent blocks of address space, handed out in a seeded order (so collapsing merges nothing)."""

    def __init__(self, rng: random.Random, count: int) -> None:
        order = list(range(count))
        rng.shuffle(order)
        self._v4 = iter(order)
        order6 = list(range(count))
        rng.shuffle(order6)
        self._v6 = iter(order6)

    def v4(self) -> tuple[IPNetwork, IPNetwork]:
        k = next(self._v4)  # a /20 slot, and the /20 after it left empty
        base = int(ipaddress.IPv4Address("11.0.0.0")) + k * 2 * 4096
        return ipaddress.IPv4Network((base, 20)), ipaddress.IPv4Network((base + 4096, 20))

    def v6(self) -> tuple[IPNetwork, IPNetwork]:
        k = next(self._v6)  # a /40 slot, and the /40 after it left empty
        base = (0x2A00 << 112) + (k * 2 << 88)
        return ipaddress.IPv6Network((base, 40)), ipaddress.IPv6Network((base + (1 << 88), 40))


def build_world(services: int, seed: int = 7208) -> World:
    rng = random.Random(seed)  # a reproducible world, not a secret
    slots = Slots(rng, services * PREFIXES_PER_SERVICE)
    world = World()
    unflattenable = {services // 3: "exclude", 2 * services // 3: "exclude", services - 1: "exists"}
    for i in range(services):
        name = f"svc{i:03}.example"
        world.includes.append(name)
        ranges: list[IPNetwork] = []
        for _ in range(PREFIXES_PER_SERVICE):
            if rng.random() < 0.7:
                slot, gap = slots.v4()
                length = rng.choice(V4_LENGTHS)
            else:
                slot, gap = slots.v6()
                length = rng.choice(V6_LENGTHS)
            ranges.append(ipaddress.ip_network((slot.network_address, length)))  # the slot's first
            world.gaps.append(gap)
        world.approved.extend(ranges)
        terms = [f"{'ip4' if r.version == 4 else 'ip6'}:{r}" for r in ranges]
        kind = unflattenable.get(i)
        if kind == "exclude":  # RFC 7208 §4.6.2: a fail term first carves out of the rest, so order matters
            excluded = ipaddress.IPv4Address("198.18.2.0") + i
            terms.insert(0, f"-ip4:{excluded}")
        elif kind == "exists":  # a DNS list of single senders
            for n in range(3):
                listed = ipaddress.IPv4Address("198.18.0.0") + n * 7
                world.add(f"{listed}._spf.{name}", "A", "127.0.0.2")
                world.approved_hosts.append(listed)
            terms.append(f"exists:%{{i}}._spf.{name}")
        elif i % 10 == 1 and ranges[0].version == 4 and ranges[0].prefixlen >= 24:  # one range as a:host/cidr
            world.add(f"out.{name}", "A", str(ranges[0].network_address + 1))
            terms[0] = f"a:out.{name}/{ranges[0].prefixlen}"
        elif i % 10 == 2 and ranges[0].version == 4 and ranges[0].prefixlen >= 24:  # one range as mx/cidr
            world.add(name, "MX", f"10 mx.{name}.")
            world.add(f"mx.{name}", "A", str(ranges[0].broadcast_address))
            terms[0] = f"mx/{ranges[0].prefixlen}"
        if i % 10 == 0:  # nested includes, each with half the ranges
            half = len(terms) // 2
            world.add(f"_s1.{name}", "TXT", "v=spf1 " + " ".join(terms[:half]) + " -all")
            world.add(f"_s2.{name}", "TXT", "v=spf1 " + " ".join(terms[half:]) + " -all")
            world.add(name, "TXT", f"v=spf1 include:_s1.{name} include:_s2.{name} ~all")
        else:
            world.add(name, "TXT", "v=spf1 " + " ".join(terms) + " -all")
    return world


def probe_mix(world: World, count: int, seed: int = 4592) -> list[tuple[str, SpfResult]]:
    """``count`` distinct addresses with the result they must get: 65 % approved, 35 % not."""
    rng = random.Random(seed)
    def family(nets: list[IPNetwork], version: int) -> list[IPNetwork]:
        return [n for n in nets if n.version == version]

    found: dict[str, SpfResult] = {str(ip): SpfResult.PASS for ip in world.approved_hosts}
    pools = ((family(world.approved, 4), SpfResult.PASS, 45), (family(world.approved, 6), SpfResult.PASS, 20),
             (family(world.gaps, 4), SpfResult.SOFTFAIL, 25), (family(world.gaps, 6), SpfResult.SOFTFAIL, 10))
    while len(found) < count:
        nets, expected, _weight = rng.choices(pools, weights=[p[2] for p in pools])[0]
        net = rng.choice(nets)
        found.setdefault(str(net.network_address + rng.randrange(net.num_addresses)), expected)
    return list(found.items())


# --------------------------------------------------------------------------- measurements


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def apex(serial: int = 1) -> list[ZoneRecord]:
    soa = f"ns1.{ZONE}. hostmaster.{DOMAIN}. {serial} " + " ".join(str(t) for t in SOA_TIMERS)
    return [ZoneRecord(ZONE, "SOA", soa), ZoneRecord(ZONE, "NS", f"ns1.{ZONE}.")]


class MemoryDns:
    """The receiver's view: the compiled zone (RFC 4592 wildcards) in front of the vendors' world."""

    def __init__(self, zone: tuple[ZoneRecord, ...], static: StaticDnsClient) -> None:
        self.zone = ZoneClient(zone, (ZONE,), static)
        self.static = static

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        name = normalize_name(name)
        if name == ZONE or name.endswith("." + ZONE):
            return self.zone.lookup(name, rdtype, ZONE)
        return self.static.lookup(name, rdtype)


def ours(dns: MemoryDns, cases: list[tuple[str, SpfResult]], checks: int) -> float:
    client = dns.zone

    async def verify() -> None:
        for ip, expected in cases:
            outcome = await check_host(ip, DOMAIN, SENDER, client=client, helo=HELO)
            if outcome.result is not expected:
                raise SystemExit(f"dmarcpilot: {ip} gave {outcome.result.value}, expected {expected.value}")

    async def run() -> None:
        for n in range(checks):
            await check_host(cases[n % len(cases)][0], DOMAIN, SENDER, client=client, helo=HELO)

    asyncio.run(verify())
    _, seconds = timed(lambda: asyncio.run(run()))
    return checks / seconds


def pyspf(dns: MemoryDns, cases: list[tuple[str, SpfResult]], checks: int) -> tuple[float, int] | None:
    """checks/s of pyspf on the same cases, and how many cases it answered otherwise than expected."""
    try:
        import spf  # type: ignore[import-not-found,import-untyped,unused-ignore]  # pyspf, optional
    except ImportError:
        return None

    def lookup(name: str, qtype: str, *args: Any, **kwargs: Any) -> Iterator[tuple[tuple[str, str], Any]]:
        answer = dns.lookup(name, qtype)
        if answer.status is not DnsStatus.OK:
            return
        for value in answer.records:
            if qtype == "TXT":
                yield (name, qtype), (value.encode(),)
            elif qtype == "MX":
                preference, exchange = value.split()
                yield (name, qtype), (int(preference), exchange.rstrip("."))
            else:
                yield (name, qtype), value

    spf.DNSLookup = lookup
    wrong = sum(spf.query(i=ip, s=SENDER, h=HELO).check()[0] != expected.value for ip, expected in cases)

    def run() -> None:
        for n in range(checks):
            spf.query(i=cases[n % len(cases)][0], s=SENDER, h=HELO).check()

    _, seconds = timed(run)
    return checks / seconds, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=100, help="approved services (default 100)")
    parser.add_argument("--checks", type=int, default=100_000, help="check_host() calls timed (default 100,000)")
    parser.add_argument("--pyspf-checks", type=int, default=None, help="pyspf checks (default: --checks)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    world = build_world(args.services)
    static = StaticDnsClient(world.records)
    policy = SpfPolicy(DOMAIN, ZONE, includes=tuple(world.includes), mode=SpfMode.EXISTS)
    resolution, t_resolve = timed(lambda: asyncio.run(resolve(policy, static)))
    compiled, t_exists = timed(lambda: compile_spf(policy, resolution))

    def conventional() -> str:
        try:
            result = compile_spf(replace(policy, mode=SpfMode.CONVENTIONAL), resolution)
        except SpfCompileError as exc:
            return f"refused: {exc}"
        return f"{result.lookups} lookups, {len(result.zone)} chained records"

    conv_outcome, t_conv = timed(conventional)
    proof, t_prove = timed(lambda: asyncio.run(prove(compiled, resolution)))
    text, t_master = timed(lambda: master_file(ZONE, [*apex(), *compiled.zone]))
    static.add(DOMAIN, "TXT", compiled.record.to_text())
    dns = MemoryDns(compiled.zone, static)
    cases = probe_mix(world, 1000)
    mine = ours(dns, cases, args.checks)
    theirs = pyspf(dns, cases, args.pyspf_checks or args.checks)

    figures = {
        "python": platform.python_version(),
        "services": args.services,
        "prefixes": len(world.approved),
        "record": compiled.record.to_text(),
        "lookups": compiled.lookups,
        "flattened": len(compiled.flattened),
        "kept": [name for name, _ in compiled.kept],
        "resolve_s": t_resolve,
        "compile_exists_s": t_exists,
        "compile_conventional_s": t_conv,
        "conventional": conv_outcome,
        "prove_s": t_prove,
        "proof_checked": proof.checked,
        "proof_holds": proof.holds,
        "zone_records": len(compiled.zone) + len(apex()),
        "zone_wildcards": sum(r.name.startswith("*.") for r in compiled.zone),
        "master_file_bytes": len(text.encode()),
        "master_file_s": t_master,
        "checks": args.checks,
        "checks_per_s": mine,
        "pyspf_checks_per_s": theirs[0] if theirs else None,
        "pyspf_unexpected_results": theirs[1] if theirs else None,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"SPF compiler, {args.services} services, {len(world.approved):,} prefixes (Python {figures['python']})")
    print(f"  record: {figures['record']}  ({compiled.lookups} lookups, {len(compiled.flattened)} flattened, "
          f"kept {', '.join(figures['kept'])})")
    print(f"  resolve                  {t_resolve * 1000:9.1f} ms")
    print(f"  compile, exists form     {t_exists * 1000:9.1f} ms")
    print(f"  compile, conventional    {t_conv * 1000:9.1f} ms   {conv_outcome}")
    print(f"  prove (default sample)   {t_prove * 1000:9.1f} ms   {proof.checked:,} addresses, "
          f"{'holds' if proof.holds else f'{len(proof.mismatches)} MISMATCHES'}")
    print(f"  zone                     {figures['zone_records']:,} records ({figures['zone_wildcards']:,} wildcards), "
          f"{figures['master_file_bytes']:,} bytes as a master file ({t_master * 1000:.1f} ms)")
    print(f"  check_host, exists record, {len(cases):,} addresses (65 % approved), DNS from memory:")
    print(f"    dmarcpilot {mine:9,.0f} checks/s over {args.checks:,} checks")
    if theirs is None:
        print("    pyspf is not importable: pip install pyspf to compare")
    else:
        print(f"    pyspf      {theirs[0]:9,.0f} checks/s (same process, same answers; "
              f"{theirs[1]} unexpected results)   ratio {mine / theirs[0]:.1f}x")


if __name__ == "__main__":
    main()
