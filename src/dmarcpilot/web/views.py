"""What each page shows, as JSON-ready data: the page renders it, its ``/api/`` twin returns it.

Everything is read through ``store`` queries and ``analysis``/``policy``; no
SQL here. Access (role, domain) is checked by the routes before these run.
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.figures import rate, window_start
from dmarcpilot.analysis.identify import most_common
from dmarcpilot.analysis.senders import Digest, digest, source
from dmarcpilot.dnsclient import ResolverClient
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.enrich.rdns import make_resolver
from dmarcpilot.policy.enforcement import make_plan, timeline
from dmarcpilot.policy.posture import check_drift
from dmarcpilot.policy.publish import Publication
from dmarcpilot.policy.publisher import publication
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.store.approvals import audit_trail, list_approvals
from dmarcpilot.store.domains import all_domains, source_records
from dmarcpilot.store.queries import daily_totals
from dmarcpilot.store.stages import current_stage, stage_history
from dmarcpilot.store.users import User
from dmarcpilot.web.accounts import Accounts
from dmarcpilot.web.config import WebConfig
from dmarcpilot.web.errors import NotFound, WebError

SPARK_DAYS = 30
MAX_GROUPS = 100
MAX_HOSTED = 40


@dataclass(frozen=True)
class WebState:
    """What every request shares: the store, the IP data, the catalogue, the accounts."""

    engine: sa.Engine
    config: WebConfig
    ipdb: IpDatabase
    catalogue: Catalogue
    accounts: Accounts


def summed(state: WebState, domain: str, days: int) -> Digest:
    """``analysis.senders.digest`` of the window ending today: what the dashboards show, not every source."""
    return digest(state.engine, domain, days, state.ipdb, state.catalogue)


def _series(state: WebState, domain: str, days: int) -> list[dict[str, Any]]:
    """Messages and DMARC passes per UTC day of the window, days without reports as zeros."""
    start = window_start(days)
    totals = {day: (m, p) for day, m, p in daily_totals(state.engine, domain, start)}
    out = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        messages, passed = totals.get(day, (0, 0))
        out.append({"day": day.isoformat(), "messages": messages, "passed": passed,
                    "pass_rate": rate(passed, messages)})
    return out


def overview(state: WebState, user: User, days: int) -> dict[str, Any]:
    """Every domain the user may see: stage, pass rate, volume, a 30-day series."""
    rows = []
    for domain in all_domains(state.engine):
        if not user.may_see(domain):
            continue
        found = summed(state, domain, days)
        rows.append({
            "domain": domain, "stage": current_stage(state.engine, domain).value, **found.rates(),
            "approved_pass_rate": rate(found.approved_pass, found.approved_messages),
            "daily": _series(state, domain, SPARK_DAYS),
        })
    return {"days": days, "domains": rows}


def domain_view(state: WebState, domain: str, days: int) -> dict[str, Any]:
    """Volume and pass rate over time, countries, services with their status, unknown groups, forwarders."""
    found = summed(state, domain, days)
    services = [g for g in found.senders if g["service_id"]]
    unknown = [g for g in found.senders if not g["service_id"]]
    return {
        "domain": domain, "days": days, "stage": current_stage(state.engine, domain).value,
        "totals": found.rates(), "classes": found.classes, "daily": _series(state, domain, days),
        "countries": found.countries, "services": services, "top_sources": found.top_sources,
        "unknown_groups": unknown[:MAX_GROUPS], "unknown_groups_total": len(unknown),
        "forwarders": found.forwarders, "forwarders_total": found.forwarders_total,
        "approvals": [a.to_dict() for a in list_approvals(state.engine, domain)],
    }


def check_ip(text: str) -> str:
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise WebError(f"not an IP address: {text!r}") from None


def source_view(state: WebState, domain: str, ip: str, days: int) -> dict[str, Any]:
    """One source: address, reverse DNS, ASN, owner, country, class, evidence and its newest records."""
    ip = check_ip(ip)
    row = source(state.engine, domain, days, ip, state.ipdb, state.catalogue)
    if row is None:
        raise NotFound(f"{ip} sent no mail as {domain} in the last {days} days")
    since = datetime.combine(window_start(days), time(), UTC)
    service = row.attribution.service
    return {
        "domain": domain, "days": days, **row.to_dict(), "as_domain": row.info.as_domain,
        "service_name": service.name if service else None,
        "fix": service.alignment if service else None,
        "spf_aligned": row.evidence.spf_aligned, "dkim_aligned": row.evidence.dkim_aligned,
        "dmarc_pass": row.evidence.dmarc_pass,
        "dkim_domains": dict(most_common(row.evidence.dkim_pass_domains, 20)),
        "envelope_domains": dict(most_common(row.evidence.envelope_domains, 20)),
        "records": source_records(state.engine, domain, ip, since),
    }


def _publication(state: WebState, domain: str) -> Publication:
    """The compiled records from the last snapshots (offline: a page never waits on vendors' DNS)."""
    pub, _ = asyncio.run(publication(state.engine, domain, state.catalogue, None))
    return pub


def _record(pub: Publication, record: ZoneRecord) -> dict[str, Any]:
    spf = record.rdtype == "TXT" and record.value.lower().startswith("v=spf1")
    lookups = (pub.spf.lookups if record.name == pub.settings.domain else 0) if spf else None
    return {"name": record.name, "type": record.rdtype, "ttl": record.ttl, "value": record.value,
            "spf_lookups": lookups}


def records_view(state: WebState, domain: str) -> dict[str, Any]:
    """What to publish (own DNS once, report destinations, the hosted zone), lookups, proof, warnings."""
    pub = _publication(state, domain)
    hosted = [r for r in pub.hosted if "._spf." not in r.name] if len(pub.hosted) > MAX_HOSTED else list(pub.hosted)
    return {
        "domain": pub.settings.domain, "hosted_zone": pub.settings.hosted_zone, "spf_mode": pub.spf.mode.value,
        "spf_record": pub.spf.record.to_text(), "spf_lookups": pub.spf.lookups,
        "spf_flattened": list(pub.spf.flattened), "spf_kept": [{"include": n, "why": w} for n, w in pub.spf.kept],
        "proof": {"checked": pub.proof.checked, "mismatches": len(pub.proof.mismatches),
                  "non_pass_differences": len(pub.proof.notes), "holds": pub.proof.holds},
        "own_dns": [_record(pub, r) for r in pub.own_dns],
        "external": [_record(pub, r) for r in pub.external],
        "hosted_zone_records": [_record(pub, r) for r in hosted],
        "hosted_zone_spf_tree_names": len(pub.hosted) - len(hosted),
        "mta_sts_policy": pub.mta_sts_policy, "warnings": list(pub.warnings),
        "approved_services": sorted(a.subject.value for a in list_approvals(state.engine, domain)
                                    if a.decision.value == "approved"),
    }


def drift_view(state: WebState, domain: str) -> dict[str, Any]:
    """The compiled own-DNS records against the live DNS, within the configured time."""
    pub = _publication(state, domain)
    client = ResolverClient(make_resolver(list(state.config.nameservers) or None),
                            lifetime=min(5.0, state.config.drift_timeout))

    async def run() -> Any:
        return await asyncio.wait_for(check_drift(pub, client), state.config.drift_timeout)

    try:
        items = asyncio.run(run())
    except TimeoutError:
        return {"domain": domain, "complete": False, "items": [],
                "message": f"the DNS did not answer within {state.config.drift_timeout:g} s"}
    return {"domain": domain, "complete": True, "message": None,
            "items": [{**i.to_dict(), "finding": i.finding.message} for i in items]}


def plan_view(state: WebState, domain: str, days: int) -> dict[str, Any]:
    """Readiness, blockers with their fixes, the next stage's what-if; the stage timeline."""
    plan = make_plan(state.engine, domain, state.ipdb, state.catalogue, days)
    return {**plan.to_dict(), "timeline": [t.to_dict() for t in timeline(state.engine, domain, 90)],
            "history": [c.to_dict() for c in stage_history(state.engine, domain)]}


def audit_view(state: WebState, domain: str) -> dict[str, Any]:
    return {"domain": domain, "entries": [e.to_dict() for e in reversed(audit_trail(state.engine, domain))],
            "stages": [c.to_dict() for c in reversed(stage_history(state.engine, domain))]}
