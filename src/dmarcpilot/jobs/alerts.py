"""The alert job: detect, de-duplicate with a quiet period, deliver. Safe to run twice or concurrently.

Run it on a schedule (``dmarcpilot alerts run`` from cron or a timer). An
alert is claimed in the store before it is sent, so two processes never
send the same one; a delivery that fails everywhere releases the claim so
the next run tries again.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.error import URLError

import sqlalchemy as sa

from dmarcpilot.analysis.alerts import (
    DEFAULT_THRESHOLDS,
    Alert,
    Thresholds,
    drift_alerts,
    new_unknown_sources,
    pass_rate_drops,
    spoofing_surge,
)
from dmarcpilot.analysis.figures import window_start
from dmarcpilot.analysis.senders import analyse
from dmarcpilot.dnsclient import DnsClient
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.jobs.notify import DeliveryError, SmtpSettings, post_webhook, send_mail
from dmarcpilot.policy.posture import DriftState, check_drift
from dmarcpilot.policy.publisher import publication
from dmarcpilot.store.publishing import get_settings
from dmarcpilot.store.queries import first_seen
from dmarcpilot.store.stages import claim_alert, release_alert

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertWindows:
    recent_days: int = 2
    baseline_days: int = 14
    quiet: timedelta = timedelta(hours=24)


@dataclass
class AlertRun:
    detected: list[Alert] = field(default_factory=list)
    sent: list[Alert] = field(default_factory=list)
    suppressed: list[Alert] = field(default_factory=list)  # within their quiet period
    failed: list[str] = field(default_factory=list)


def detect(engine: sa.Engine, domain: str, ipdb: IpDatabase, catalogue: Catalogue, today: date | None = None,
           windows: AlertWindows = AlertWindows(), limits: Thresholds = DEFAULT_THRESHOLDS) -> list[Alert]:
    today = today or datetime.now(UTC).date()
    recent = analyse(engine, domain, windows.recent_days, ipdb, catalogue, today, bounded=True)
    recent_start = window_start(windows.recent_days, today)
    baseline = analyse(engine, domain, windows.baseline_days, ipdb, catalogue, recent_start - timedelta(days=1),
                       bounded=True)
    return [*new_unknown_sources(domain, recent, first_seen(engine, domain), recent_start, limits),
            *pass_rate_drops(domain, recent, baseline, limits),
            *spoofing_surge(domain, recent, windows.recent_days, baseline, windows.baseline_days, limits)]


async def drift(engine: sa.Engine, domain: str, catalogue: Catalogue, client: DnsClient) -> list[Alert]:
    """Records in the domain's DNS that differ from (or miss) the compiled ones (the posture check's drift)."""
    pub, _ = await publication(engine, domain, catalogue, client=None)
    items = await check_drift(pub, client)
    return drift_alerts(domain, [(f"{d.name} {d.rdtype}", d.finding.message) for d in items
                                 if d.state in (DriftState.MISSING, DriftState.DIFFERENT)])


def run_alerts(engine: sa.Engine, domain: str, alerts: list[Alert], smtp: SmtpSettings,
               windows: AlertWindows = AlertWindows(), dry_run: bool = False) -> AlertRun:
    """Send the alerts not sent within their quiet period, to the domain's mail addresses and webhooks."""
    result = AlertRun(detected=list(alerts))
    now = datetime.now(UTC)
    due = []
    for alert in alerts:
        if dry_run or claim_alert(engine, domain, alert.key, alert.kind.value, alert.message, windows.quiet, now):
            due.append(alert)
        else:
            result.suppressed.append(alert)
    if not due or dry_run:
        result.sent = due if dry_run else []
        return result
    settings = get_settings(engine, domain)
    delivered = False
    try:
        if settings.alert_email:
            send_mail(smtp, settings.alert_email, due)
            delivered = True
    except (OSError, ValueError) as exc:
        result.failed.append(f"mail to {', '.join(settings.alert_email)}: {exc}")
    for url in settings.alert_webhook:
        try:
            post_webhook(url, due)
            delivered = True
        except (OSError, URLError, DeliveryError) as exc:
            result.failed.append(f"webhook {url}: {exc}")
    if delivered:
        result.sent = due
    else:
        for alert in due:  # nowhere to deliver, or every delivery failed: try again next run
            release_alert(engine, domain, alert.key, windows.quiet, now)
        if not settings.alert_email and not settings.alert_webhook:
            result.failed.append(f"{domain}: no alert addresses or webhooks set (dmarcpilot domain set)")
    for failure in result.failed:
        log.warning("alert delivery: %s", failure)
    return result


def alert_domain(engine: sa.Engine, domain: str, ipdb: IpDatabase, catalogue: Catalogue, smtp: SmtpSettings,
                 windows: AlertWindows = AlertWindows(), dry_run: bool = False,
                 client: DnsClient | None = None) -> AlertRun:
    """Detect (and, with a DNS client, look for drift) then deliver: one run of the alert job for a domain."""
    alerts = detect(engine, domain, ipdb, catalogue, windows=windows)
    if client is not None:
        alerts += asyncio.run(drift(engine, domain, catalogue, client))
    return run_alerts(engine, domain, alerts, smtp, windows, dry_run)
