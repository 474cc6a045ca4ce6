"""Resolve every catalogue service's SPF includes and keep the ranges, so sources can be named by them.

The snapshots are the same the compiler uses (``spf_snapshots``), so a
vendor resolved here is also ready for an offline compile, and the usual
rule holds: a vendor failing DNS now keeps its last good snapshot.
``analysis.ranges`` reads them to attribute sources offline.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import sqlalchemy as sa

from dmarcpilot.dnsclient import DnsClient
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.policy.publisher import Change, keep_include
from dmarcpilot.policy.spftree import Capture, Expansion, RecordingClient, expand_include
from dmarcpilot.store.publishing import SnapshotKind, load_snapshots


async def refresh_vendor_ranges(engine: sa.Engine, catalogue: Catalogue, client: DnsClient,
                                concurrency: int = 16) -> list[Change]:
    """Resolve the includes of every service in ``catalogue`` (at most ``concurrency`` at once)."""
    names = sorted({name for service in catalogue.services.values() for name in service.spf_includes})
    gate = asyncio.Semaphore(concurrency)

    async def one(name: str) -> tuple[str, Expansion, Capture]:
        async with gate:
            recorder = RecordingClient(client)
            expansion = await expand_include(name, recorder)
            return name, expansion, recorder.capture()

    resolved = await asyncio.gather(*(one(name) for name in names))
    old = load_snapshots(engine, SnapshotKind.INCLUDE, names)
    now = datetime.now(UTC)
    return [keep_include(engine, name, expansion, capture, old.get(name), now)
            for name, expansion, capture in resolved]
