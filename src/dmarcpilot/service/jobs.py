"""The scheduled jobs of ``dmarcpilot run``: reverse DNS, SPF refresh, alerts, shared analyses.

Each job is a plain function of the engine and the settings; the scheduler
(``service/runner.py``) calls it every ``interval`` seconds. A failing job is
logged and tried again at its next turn: it never stops report collection.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dmarcpilot.dnsclient import ResolverClient
from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.jobs.alerts import AlertWindows, alert_domain
from dmarcpilot.jobs.analyses import refresh_analyses
from dmarcpilot.jobs.rdns import refresh_reverse_dns
from dmarcpilot.policy.publisher import publication
from dmarcpilot.policy.vendorranges import refresh_vendor_ranges
from dmarcpilot.settings import AppSettings
from dmarcpilot.store.publishing import configured_domains

log = logging.getLogger(__name__)


class JobKind(enum.Enum):
    RDNS = "rdns"
    SPF_REFRESH = "spf_refresh"
    ALERTS = "alerts"
    ANALYSES = "analyses"


JobFunc = Callable[[sa.Engine, AppSettings, list[Path]], dict[str, Any]]


def _nameservers(settings: AppSettings) -> list[str] | None:
    return list(settings.service.nameservers) or None


def run_rdns(engine: sa.Engine, settings: AppSettings, _ip_databases: list[Path]) -> dict[str, Any]:
    resolver = make_resolver(_nameservers(settings))
    return refresh_reverse_dns(engine, resolver, settings.service.rdns_limit)


def run_spf_refresh(engine: sa.Engine, settings: AppSettings, _ip_databases: list[Path]) -> dict[str, Any]:
    """Resolve the vendors' SPF includes again and store the snapshots (what ``spf refresh`` does for each
    domain, and ``spf ranges`` for every catalogue service, whose ranges name sources)."""
    catalogue = load_catalogue()
    client = ResolverClient(make_resolver(_nameservers(settings)))
    changed: dict[str, int] = {}
    for domain in configured_domains(engine):
        _, changes = asyncio.run(publication(engine, domain, catalogue, client))
        changed[domain] = len(changes)
    ranges = asyncio.run(refresh_vendor_ranges(engine, catalogue, client))
    return {"domains": len(changed), "changes": changed, "ranges_failed": sum(1 for c in ranges if c.problem)}


def run_alert_checks(engine: sa.Engine, settings: AppSettings, ip_databases: list[Path]) -> dict[str, Any]:
    ipdb, catalogue = IpDatabase.optional(ip_databases), load_catalogue()
    windows = AlertWindows()
    sent: dict[str, int] = {}
    for domain in configured_domains(engine):
        result = alert_domain(engine, domain, ipdb, catalogue, settings.notify, windows)
        sent[domain] = len(result.sent)
        for failure in result.failed:
            log.warning("alerts for %s: %s", domain, failure)
    return {"domains": len(sent), "sent": sent}


def run_analyses(engine: sa.Engine, _settings: AppSettings, ip_databases: list[Path]) -> dict[str, Any]:
    """Recompute the shared analyses whose data changed (``analysis.snapshot``), before anyone asks."""
    return refresh_analyses(engine, IpDatabase.optional(ip_databases), load_catalogue())


JOBS: dict[JobKind, JobFunc] = {
    JobKind.RDNS: run_rdns,
    JobKind.SPF_REFRESH: run_spf_refresh,
    JobKind.ALERTS: run_alert_checks,
    JobKind.ANALYSES: run_analyses,
}


def interval_of(kind: JobKind, settings: AppSettings) -> float:
    service = settings.service
    return {JobKind.RDNS: service.rdns_interval, JobKind.SPF_REFRESH: service.spf_refresh_interval,
            JobKind.ALERTS: service.alerts_interval, JobKind.ANALYSES: service.analyses_interval}[kind]


@dataclass
class Schedule:
    """When each enabled job runs next (monotonic seconds); the first run comes right after start."""

    due: dict[JobKind, float] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)

    def configure(self, settings: AppSettings, now: float) -> None:
        enabled = {kind for kind in JobKind if interval_of(kind, settings) > 0}
        self.due = {kind: self.due.get(kind, now) for kind in enabled}

    def next_due(self) -> float | None:
        return min(self.due.values(), default=None)

    def run_due(self, engine: sa.Engine, settings: AppSettings, ip_databases: list[Path],
                should_stop: Callable[[], bool]) -> None:
        for kind, due in sorted(self.due.items(), key=lambda item: item[1]):
            if should_stop() or time.monotonic() < due:
                continue
            self._run(kind, engine, settings, ip_databases)
            self.due[kind] = time.monotonic() + interval_of(kind, settings)

    def _run(self, kind: JobKind, engine: sa.Engine, settings: AppSettings, ip_databases: list[Path]) -> None:
        started = time.monotonic()
        try:
            outcome = JOBS[kind](engine, settings, ip_databases)
        except Exception:  # a job's failure must not stop report collection; it runs again next time
            log.exception("job %s failed", kind.value)
            self.failures[kind.value] = self.failures.get(kind.value, 0) + 1
            return
        self.runs[kind.value] = self.runs.get(kind.value, 0) + 1
        log.info("job %s done in %.1fs: %s", kind.value, time.monotonic() - started, outcome)
