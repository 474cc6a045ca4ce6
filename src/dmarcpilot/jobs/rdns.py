"""Reverse-DNS enrichment of stored source addresses."""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from datetime import UTC, datetime

import dns.asyncresolver
import sqlalchemy as sa

from dmarcpilot.enrich.rdns import DEFAULT_SETTINGS, RdnsSettings, bulk_reverse
from dmarcpilot.store.rdns import addresses_to_look_up, save

BATCH = 1000


def refresh_reverse_dns(engine: sa.Engine, resolver: dns.asyncresolver.Resolver, limit: int = 100_000,
                        settings: RdnsSettings = DEFAULT_SETTINGS) -> dict[str, int]:
    """Look up every source address lacking a fresh answer; counts per outcome."""
    counts: Counter[str] = Counter()
    now = datetime.now(UTC)
    todo = addresses_to_look_up(engine, now, limit)
    for start in range(0, len(todo), BATCH):
        ips = [ipaddress.ip_address(ip) for ip in todo[start:start + BATCH]]
        results = asyncio.run(bulk_reverse(resolver, ips, settings))
        save(engine, results, now)
        for result in results:
            counts[result.status.value] += 1
            if result.confirmed:
                counts["confirmed"] += 1
    counts["looked_up"] = len(todo)
    return dict(counts)
