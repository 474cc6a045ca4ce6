"""Read-side queries used by the CLI (and later the web app)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.store.rollups import DAILY, MONTHLY, Tier, month_start
from dmarcpilot.store.schema import (
    UTCDateTime,
    aggregate_records,
    aggregate_reports,
    approvals,
    audit_log,
    daily_domain_stats,
    daily_source_stats,
    failure_reports,
    quarantine,
    rdns_cache,
    spf_snapshots,
    tls_policies,
    tls_reports,
)


@dataclass(frozen=True, slots=True)
class ReportRow:
    kind: str
    id: int
    org_name: str | None
    report_id: str | None
    domain: str | None
    begin: datetime | None
    end: datetime | None
    records: int
    messages: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "id": self.id, "org_name": self.org_name, "report_id": self.report_id,
            "domain": self.domain, "begin": _iso(self.begin), "end": _iso(self.end),
            "records": self.records, "messages": self.messages, "source": self.source,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def list_reports(engine: sa.Engine, domain: str | None = None, limit: int | None = None) -> list[ReportRow]:
    """Every stored report, newest period first, optionally for one domain."""
    domain = domain.lower().rstrip(".") if domain else None
    a, f, t = aggregate_reports, failure_reports, tls_reports
    agg = sa.select(
        sa.literal("aggregate").label("kind"), a.c.id, a.c.org_name, a.c.report_id, a.c.domain,
        a.c.begin_at, a.c.end_at, a.c.record_count.label("records"), a.c.message_count.label("messages"),
        a.c.source_path,
    )
    fail = sa.select(
        sa.literal("failure").label("kind"), f.c.id, f.c.reporter, f.c.sample_message_id, f.c.reported_domain,
        f.c.arrival_date, f.c.arrival_date, sa.literal(0), sa.literal(1), f.c.source_path,
    )
    tls_domain = (
        sa.select(sa.func.min(tls_policies.c.policy_domain))
        .where(tls_policies.c.report_pk == t.c.id)
        .scalar_subquery()
    )
    tls = sa.select(
        sa.literal("smtp_tls").label("kind"), t.c.id, t.c.org_name, t.c.report_id,
        tls_domain, t.c.begin_at, t.c.end_at, sa.literal(0), t.c.successful + t.c.failed,
        t.c.source_path,
    )
    if domain:
        agg = agg.where(a.c.domain == domain)
        fail = fail.where(f.c.reported_domain == domain)
        tp = tls_policies
        tls = tls.where(t.c.id.in_(sa.select(tp.c.report_pk).where(tp.c.policy_domain == domain)))
    union = sa.union_all(agg, fail, tls).subquery()
    query = sa.select(union).order_by(union.c[5].desc().nulls_last(), union.c.kind, union.c.id)
    if limit:
        query = query.limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [ReportRow(r[0], r[1], r[2], r[3], r[4], _aware(r[5]), _aware(r[6]), r[7], r[8], r[9])
            for r in rows]


def _aware(value: Any) -> datetime | None:
    """UNION results bypass the column type on SQLite: restore UTC datetimes."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return UTCDateTime().process_result_value(value, None)  # type: ignore[arg-type]


def list_quarantine(engine: sa.Engine, include_resolved: bool = False) -> list[dict[str, Any]]:
    q = quarantine
    query = sa.select(q).order_by(q.c.id)
    if not include_resolved:
        query = query.where(q.c.resolved_at.is_(None))
    with engine.connect() as conn:
        return [
            {"id": r.id, "sha256": r.sha256, "origin": r.origin, "part": r.part, "reason": r.reason,
             "created_at": _iso(r.created_at), "resolved_at": _iso(r.resolved_at)}
            for r in conn.execute(query)
        ]


def reverse_names(engine: sa.Engine, ips: list[str]) -> dict[str, tuple[str | None, bool]]:
    """Cached reverse DNS (name, forward-confirmed) of these addresses, fresh or not."""
    out: dict[str, tuple[str | None, bool]] = {}
    with engine.connect() as conn:
        for start in range(0, len(ips), 5000):
            chunk = ips[start:start + 5000]
            rows = conn.execute(sa.select(rdns_cache.c.ip, rdns_cache.c.name, rdns_cache.c.confirmed)
                                .where(rdns_cache.c.ip.in_(chunk)))
            out.update({r.ip: (r.name, r.confirmed) for r in rows})
    return out


@dataclass(frozen=True, slots=True)
class SourceCounters:
    ip: str
    messages: int
    dmarc_pass: int
    dkim_aligned: int
    spf_aligned: int


def _window(tier: Tier, table: sa.Table, columns: list[str], domain: str, since: date) -> sa.Select[Any]:
    """Rows of ``since``'s window from one tier's table: whole months, or the days before the first."""
    t = table.c
    first_month = since if since.day == 1 else month_start(since.replace(day=28) + timedelta(days=4))
    select = sa.select(*(t[c] for c in columns)).where(t.domain == domain.lower().rstrip("."))
    if tier is MONTHLY:
        return select.where(t.month >= first_month)
    return select.where(t.day >= since, t.day < first_month)


def _tiered(attr: str, columns: list[str], domain: str, since: date, until: date | None = None) -> Any:
    """The window as the union of its whole months (monthly tier) and leading days (daily tier).

    A window with an end (``until``, exclusive) reads the daily tier only.
    """
    if until is not None:
        t = getattr(DAILY, attr).c
        return (sa.select(*(t[c] for c in columns))
                .where(t.domain == domain.lower().rstrip("."), t.day >= since, t.day < until).subquery())
    parts = [_window(tier, getattr(tier, attr), columns, domain, since) for tier in (MONTHLY, DAILY)]
    return sa.union_all(*parts).subquery()


def source_counters(engine: sa.Engine, domain: str, since: date, until: date | None = None) -> list[SourceCounters]:
    """Per source address since ``since`` (until ``until``, exclusive): messages and aligned passes (rollups)."""
    t = _tiered("stats", ["source_ip", "messages", "dmarc_pass", "dkim_aligned", "spf_aligned"], domain, since,
                until).c
    query = (
        sa.select(t.source_ip, sa.func.sum(t.messages), sa.func.sum(t.dmarc_pass), sa.func.sum(t.dkim_aligned),
                  sa.func.sum(t.spf_aligned))
        .group_by(t.source_ip)
    )
    with engine.connect() as conn:
        return [SourceCounters(ip, int(m or 0), int(p or 0), int(k or 0), int(s or 0))
                for ip, m, p, k, s in conn.execute(query)]


def source_evidence(engine: sa.Engine, domain: str, since: date,
                    until: date | None = None) -> list[tuple[str, str, str, int, int]]:
    """(ip, kind, domain, messages, passed) since ``since``: the identification evidence rollups."""
    t = _tiered("evidence", ["source_ip", "kind", "value", "messages", "passed"], domain, since, until).c
    query = (
        sa.select(t.source_ip, t.kind, t.value, sa.func.sum(t.messages), sa.func.sum(t.passed))
        .group_by(t.source_ip, t.kind, t.value)
    )
    with engine.connect() as conn:
        return [(ip, kind, value, int(m or 0), int(p or 0)) for ip, kind, value, m, p in conn.execute(query)]


def decisions(engine: sa.Engine, domain: str) -> tuple[dict[str, str], list[str]]:
    """({service id: decision}, [approved networks]) for a domain."""
    services: dict[str, str] = {}
    networks: list[str] = []
    with engine.connect() as conn:
        for kind, subject, decision in conn.execute(
            sa.select(approvals.c.subject_kind, approvals.c.subject, approvals.c.decision)
            .where(approvals.c.domain == domain)
        ):
            if kind == "service":
                services[subject] = decision
            elif decision == "approved":
                networks.append(subject)
    return services, networks


def daily_totals(engine: sa.Engine, domain: str, since: date) -> list[tuple[date, int, int]]:
    """(day, messages, DMARC passes) per UTC day since ``since``, from the per-domain daily rollup."""
    t = daily_domain_stats.c
    query = (sa.select(t.day, t.messages, t.dmarc_pass)
             .where(t.domain == domain.lower().rstrip("."), t.day >= since).order_by(t.day))
    with engine.connect() as conn:
        return [(day if isinstance(day, date) else date.fromisoformat(day), int(m or 0), int(p or 0))
                for day, m, p in conn.execute(query)]


def first_seen(engine: sa.Engine, domain: str) -> dict[str, date]:
    """The first UTC day each source address of ``domain`` appeared in a report."""
    t = daily_source_stats.c
    query = (sa.select(t.source_ip, sa.func.min(t.day)).where(t.domain == domain.lower().rstrip("."))
             .group_by(t.source_ip))
    with engine.connect() as conn:
        return {ip: day if isinstance(day, date) else date.fromisoformat(day) for ip, day in conn.execute(query)}


def include_networks(engine: sa.Engine) -> dict[str, tuple[list[str], date]]:
    """{include domain: (networks, day resolved)} of every vendor include snapshot that resolved cleanly."""
    t = spf_snapshots.c
    query = sa.select(t.subject, t.networks, t.resolved_at).where(t.kind == "include", t.problem.is_(None))
    out = {}
    with engine.connect() as conn:
        for subject, networks, resolved_at in conn.execute(query):
            listed = networks if isinstance(networks, list) else json.loads(networks)
            out[subject] = (listed, resolved_at.date())
    return out


def reports_between(engine: sa.Engine, domain: str, after_id: int, up_to_id: int) -> list[tuple[int, date]]:
    """(id, UTC day of its begin) of the domain's aggregate reports with ``after_id < id <= up_to_id``."""
    a = aggregate_reports.c
    query = (sa.select(a.id, a.begin_at)
             .where(a.domain == domain.lower().rstrip("."), a.id > after_id, a.id <= up_to_id).order_by(a.id))
    with engine.connect() as conn:
        return [(pk, begin.astimezone(UTC).date()) for pk, begin in conn.execute(query)]


RawRecord = tuple[str, int, str | None, str | None, str | None, Any, Any]


def records_of(engine: sa.Engine, report_ids: list[int]) -> list[RawRecord]:
    """(source ip, count, DKIM and SPF of policy_evaluated, envelope sender, DKIM and SPF results) of reports."""
    r = aggregate_records.c
    query = (sa.select(r.source_ip, r.count, r.dkim, r.spf, r.envelope_from, r.dkim_results, r.spf_results)
             .where(r.report_pk.in_(report_ids)))
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def data_version(engine: sa.Engine, domain: str) -> tuple[Any, ...]:
    """What an analysis of ``domain`` depends on in the store, in one statement of index reads.

    Changes whenever a report is stored for the domain, a decision is taken
    (the audit log), a reverse-DNS answer is cached or a vendor's SPF ranges
    are resolved again; equal versions mean equal analyses.
    """
    domain = domain.lower().rstrip(".")
    a, log = aggregate_reports.c, audit_log.c
    query = sa.select(
        sa.select(sa.func.max(a.id)).where(a.domain == domain).scalar_subquery(),
        sa.select(sa.func.count()).where(a.domain == domain).scalar_subquery(),
        sa.select(sa.func.max(log.id)).where(log.domain == domain).scalar_subquery(),
        sa.select(sa.func.max(rdns_cache.c.checked_at)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(rdns_cache).scalar_subquery(),
        sa.select(sa.func.max(spf_snapshots.c.resolved_at)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(spf_snapshots).scalar_subquery(),
    )
    with engine.connect() as conn:
        return tuple(conn.execute(query).one())
