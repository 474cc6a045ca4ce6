"""Proof that a compiled SPF record means what the plain list of includes means (issue 4).

Both records are evaluated by the same RFC 7208 evaluator against the same
DNS answers (the capture taken while resolving, with the compiled names of
the hosted zone on top): for the first and last address of every prefix
involved (approved ranges, vendors' flattened ranges, own servers), the
addresses just outside them, and a seeded random sample of other addresses,
IPv4 and IPv6. The reference is evaluated without the lookup limit, so it
stands for what the approvals mean; the compiled record with the RFC's
limits, as receivers evaluate it.

What must be equal is the set of addresses that pass: a difference between
two results other than ``pass`` (``softfail`` against ``permerror`` when the
compiled record's ``exists`` lookup adds a void lookup, RFC 7208 §4.6.4) is
kept as a note, since DMARC counts any result but ``pass`` as not
authenticated (RFC 7489 §4.2).
"""

from __future__ import annotations

import hashlib
import ipaddress
import random
from dataclasses import dataclass

from dmarcpilot.policy.spfcompile import CompiledSpf, Resolution
from dmarcpilot.policy.spftree import IPNetwork, collapse
from dmarcpilot.policy.zone import ZoneClient
from dmarcpilot.spf import SpfLimits, SpfResult, evaluate_record

UNLIMITED = SpfLimits(dns_terms=10_000, void_lookups=10_000, timeout=None)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Mismatch:
    ip: IPAddress
    expected: SpfResult
    compiled: SpfResult

    @property
    def authorisation_differs(self) -> bool:
        """One side passes and the other does not: the compiled record authorises other addresses."""
        return (self.expected is SpfResult.PASS) != (self.compiled is SpfResult.PASS)


@dataclass(frozen=True, slots=True)
class Proof:
    checked: int
    differences: tuple[Mismatch, ...]  # every address whose result differs

    @property
    def mismatches(self) -> tuple[Mismatch, ...]:
        """The differences that matter: an address authorised by one record and not the other."""
        return tuple(m for m in self.differences if m.authorisation_differs)

    @property
    def notes(self) -> tuple[Mismatch, ...]:
        """Differences between two non-pass results (e.g. softfail against permerror)."""
        return tuple(m for m in self.differences if not m.authorisation_differs)

    @property
    def holds(self) -> bool:
        return not self.mismatches


_CACHE: dict[str, Proof] = {}
_CACHE_SIZE = 64


def _key(compiled: CompiledSpf, resolution: Resolution, sample: int, seed: int) -> str:
    parts = [compiled.policy.reference().to_text(), compiled.record.to_text(), resolution.capture.to_json(),
             str(sample), str(seed), *(f"{r.name} {r.rdtype} {r.value}" for r in sorted(compiled.zone))]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


async def prove(compiled: CompiledSpf, resolution: Resolution, sample: int = 200, seed: int = 7208) -> Proof:
    """Evaluate both records for the boundary addresses and ``sample`` random ones each of IPv4 and IPv6.

    The same inputs give the same proof: it is computed once per process
    (a DNS server recompiling every few seconds proves only what changed).
    """
    key = _key(compiled, resolution, sample, seed)
    cached = _CACHE.get(key)
    if cached is None:
        cached = await _prove(compiled, resolution, sample, seed)
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = cached
    return cached


async def _prove(compiled: CompiledSpf, resolution: Resolution, sample: int, seed: int) -> Proof:
    policy = compiled.policy
    base = resolution.capture.client()
    zone = ZoneClient(compiled.zone, (policy.hosted_zone,), base)
    sender = f"postmaster@{policy.domain}"
    reference = policy.reference()
    mismatches = []
    addresses = probe_addresses(_networks(compiled, resolution), sample, seed)
    for ip in addresses:
        expected = await evaluate_record(reference, ip, policy.domain, sender, client=base, limits=UNLIMITED)
        got = await evaluate_record(compiled.record, ip, policy.domain, sender, client=zone)
        if expected.result is not got.result:
            mismatches.append(Mismatch(ip, expected.result, got.result))
    return Proof(len(addresses), tuple(mismatches))


def _networks(compiled: CompiledSpf, resolution: Resolution) -> tuple[IPNetwork, ...]:
    nets = [*compiled.policy.networks, *resolution.own.networks]
    for expansion in resolution.includes.values():
        nets.extend(expansion.networks)
    return collapse(nets)


def probe_addresses(networks: tuple[IPNetwork, ...], sample: int, seed: int) -> list[IPAddress]:
    """Each network's first and last address and their outside neighbours, then random ones."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible sample, not a secret
    found: dict[IPAddress, None] = {}
    for net in networks:
        first, last = net.network_address, net.broadcast_address
        for ip in (first, last):
            found[ip] = None
        if int(first) > 0:
            found[first - 1] = None
        if int(last) < (1 << net.max_prefixlen) - 1:
            found[last + 1] = None
    for _ in range(sample):
        found[ipaddress.IPv4Address(rng.getrandbits(32))] = None
        found[ipaddress.IPv6Address((0x2 << 125) | rng.getrandbits(125))] = None  # 2000::/3, global unicast
        if networks:
            net = rng.choice(networks)
            found[net.network_address + rng.randrange(net.num_addresses)] = None
    return list(found)
