"""Read queries the dashboard needs beyond ``queries``: every domain, one stored report, one source's records."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from dmarcpilot.store.schema import (
    aggregate_records,
    aggregate_reports,
    domain_settings,
    failure_reports,
    tls_policies,
    tls_reports,
)


class ReportKind(enum.Enum):
    AGGREGATE = "aggregate"
    FAILURE = "failure"
    SMTP_TLS = "smtp_tls"


@dataclass(frozen=True, slots=True)
class StoredReport:
    """One stored report: where it came from, its domains, its fields and (aggregate) its first records."""

    kind: ReportKind
    id: int
    domains: tuple[str, ...]
    sha256: str
    source_path: str
    fields: dict[str, Any]
    records: tuple[dict[str, Any], ...]


def all_domains(engine: sa.Engine) -> list[str]:
    """Domains with settings or aggregate reports, sorted."""
    with engine.connect() as conn:
        configured = set(conn.execute(sa.select(domain_settings.c.domain)).scalars())
        reported = set(conn.execute(sa.select(aggregate_reports.c.domain).distinct()).scalars())
    return sorted(configured | reported)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _fields(row: Any, skip: tuple[str, ...]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in row._mapping.items() if k not in skip}


def stored_report(engine: sa.Engine, kind: ReportKind, report_id: int, max_records: int = 200) -> StoredReport | None:
    with engine.connect() as conn:
        if kind is ReportKind.AGGREGATE:
            row = conn.execute(sa.select(aggregate_reports).where(aggregate_reports.c.id == report_id)).first()
            if row is None:
                return None
            r = aggregate_records.c
            records = conn.execute(sa.select(aggregate_records).where(r.report_pk == report_id)
                                   .order_by(r.rec_no).limit(max_records))
            return StoredReport(kind, row.id, (row.domain,), row.input_sha256, row.source_path,
                                _fields(row, ("input_sha256", "source_path")),
                                tuple(_fields(rec, ("report_pk",)) for rec in records))
        if kind is ReportKind.FAILURE:
            row = conn.execute(sa.select(failure_reports).where(failure_reports.c.id == report_id)).first()
            if row is None:
                return None
            return StoredReport(kind, row.id, (row.reported_domain,) if row.reported_domain else (),
                                row.input_sha256, row.source_path, _fields(row, ("input_sha256", "source_path")), ())
        row = conn.execute(sa.select(tls_reports).where(tls_reports.c.id == report_id)).first()
        if row is None:
            return None
        p = tls_policies.c
        policies = conn.execute(sa.select(tls_policies).where(p.report_pk == report_id).order_by(p.idx)).all()
        return StoredReport(kind, row.id, tuple(sorted({pol.policy_domain for pol in policies})), row.input_sha256,
                            row.source_path, _fields(row, ("input_sha256", "source_path")),
                            tuple(_fields(pol, ("report_pk",)) for pol in policies))


def source_records(engine: sa.Engine, domain: str, ip: str, since: datetime, limit: int = 100) -> list[dict[str, Any]]:
    """The newest raw aggregate records of one source address for ``domain`` (reports beginning since ``since``)."""
    r, a = aggregate_records.c, aggregate_reports.c
    query = (sa.select(a.id.label("report"), a.org_name, a.begin_at, r.count, r.disposition, r.dkim, r.spf,
                       r.header_from, r.envelope_from, r.dkim_results, r.spf_results, r.reasons)
             .join(aggregate_reports, a.id == r.report_pk)
             .where(r.source_ip == ip, a.domain == domain, a.begin_at >= since)
             .order_by(a.begin_at.desc(), r.rec_no).limit(limit))
    with engine.connect() as conn:
        return [_fields(row, ()) for row in conn.execute(query)]
