"""SQLAlchemy Core schema: the single source of truth of every process.

Alembic migrations in ``store/migrations`` create exactly these tables; a test
compares the migrated database with this metadata.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: JSON text everywhere, JSONB on PostgreSQL (queryable, compact).
JSONText = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC on both sides, whatever the backend keeps.

    SQLite has no time zones: values are stored as naive UTC and come back
    with ``tzinfo=UTC``. Naive datetimes are refused (convention 3).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: dmarcpilot stores UTC-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

SHA256 = sa.String(64)

# -- archive: the original bytes of every input, compressed, content-addressed --
blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("sha256", SHA256, primary_key=True),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_size", sa.BigInteger, nullable=False),
    sa.Column("codec", sa.String(16), nullable=False),
    sa.Column("chunks", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

blob_chunks = sa.Table(
    "blob_chunks",
    metadata,
    sa.Column("sha256", SHA256, sa.ForeignKey("blobs.sha256", ondelete="CASCADE"), primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# -- inputs: one row per distinct input; its status makes re-ingest a no-op --
inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", SHA256, sa.ForeignKey("blobs.sha256"), nullable=False, unique=True),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # InputStatus
    sa.Column("reports", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rejected", sa.Integer, nullable=False, server_default="0"),
    sa.Column("finished_at", UTCDateTime()),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha256", SHA256, sa.ForeignKey("blobs.sha256"), nullable=False, index=True),
    sa.Column("origin", sa.Text, nullable=False),
    sa.Column("part", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("resolved_at", UTCDateTime()),
)

# -- aggregate reports: RFC 7489 Appendix C / RFC 9990 --
aggregate_reports = sa.Table(
    "aggregate_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_name", sa.Text, nullable=False),
    sa.Column("report_id", sa.Text, nullable=False),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("email", sa.Text),
    sa.Column("extra_contact_info", sa.Text),
    sa.Column("begin_at", UTCDateTime(), nullable=False),
    sa.Column("end_at", UTCDateTime(), nullable=False),
    sa.Column("schema", sa.String(16), nullable=False),
    sa.Column("version", sa.Text),
    sa.Column("generator", sa.Text),
    sa.Column("adkim", sa.String(1)),
    sa.Column("aspf", sa.String(1)),
    sa.Column("p", sa.String(16)),
    sa.Column("sp", sa.String(16)),
    sa.Column("np", sa.String(16)),
    sa.Column("pct", sa.Integer),
    sa.Column("fo", sa.Text),
    sa.Column("testing", sa.Boolean),
    sa.Column("discovery_method", sa.String(16)),
    sa.Column("reporter_errors", JSONText, nullable=False),
    sa.Column("parse_errors", JSONText, nullable=False),
    sa.Column("record_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("message_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("input_sha256", SHA256, sa.ForeignKey("blobs.sha256"), nullable=False),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("ingested_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("org_name", "report_id", "domain", name="uq_aggregate_reports_natural_key"),
    sa.Index("ix_aggregate_reports_domain_begin", "domain", "begin_at"),
)

aggregate_records = sa.Table(
    "aggregate_records",
    metadata,
    sa.Column("report_pk", sa.Integer, sa.ForeignKey("aggregate_reports.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("rec_no", sa.Integer, primary_key=True),
    sa.Column("source_ip", sa.String(45), nullable=False),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("disposition", sa.String(16)),
    sa.Column("dkim", sa.String(8)),
    sa.Column("spf", sa.String(8)),
    sa.Column("reasons", JSONText, nullable=False),
    sa.Column("header_from", sa.Text),
    sa.Column("envelope_from", sa.Text),
    sa.Column("envelope_to", sa.Text),
    sa.Column("dkim_results", JSONText, nullable=False),
    sa.Column("spf_results", JSONText, nullable=False),
    sa.Index("ix_aggregate_records_source_ip", "source_ip"),
    # One B-tree keyed by (report, record) instead of a rowid tree plus that key.
    sqlite_with_rowid=False,
)

# -- failure reports: RFC 6591 / RFC 9991 --
failure_reports = sa.Table(
    "failure_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("fingerprint", SHA256, nullable=False, unique=True),
    sa.Column("feedback_type", sa.Text, nullable=False),
    sa.Column("user_agent", sa.Text),
    sa.Column("version", sa.Text),
    sa.Column("arrival_date", UTCDateTime()),
    sa.Column("source_ip", sa.String(45)),
    sa.Column("reported_domain", sa.Text),
    sa.Column("original_mail_from", sa.Text),
    sa.Column("original_rcpt_to", JSONText, nullable=False),
    sa.Column("auth_failure", JSONText, nullable=False),
    sa.Column("delivery_result", sa.Text),
    sa.Column("dkim_domain", sa.Text),
    sa.Column("dkim_selector", sa.Text),
    sa.Column("dkim_identity", sa.Text),
    sa.Column("spf_dns", sa.Text),
    sa.Column("identity_alignment", sa.Text),
    sa.Column("authentication_results", sa.Text),
    sa.Column("sample_subject", sa.Text),
    sa.Column("sample_from", sa.Text),
    sa.Column("sample_message_id", sa.Text),
    sa.Column("sample_headers", sa.Text),
    sa.Column("reporter", sa.Text),
    sa.Column("report_date", UTCDateTime()),
    sa.Column("input_sha256", SHA256, sa.ForeignKey("blobs.sha256"), nullable=False),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("ingested_at", UTCDateTime(), nullable=False),
    sa.Index("ix_failure_reports_domain_arrival", "reported_domain", "arrival_date"),
)

# -- SMTP TLS reports: RFC 8460 --
tls_reports = sa.Table(
    "tls_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("org_name", sa.Text, nullable=False),
    sa.Column("report_id", sa.Text, nullable=False),
    sa.Column("contact_info", sa.Text),
    sa.Column("begin_at", UTCDateTime(), nullable=False),
    sa.Column("end_at", UTCDateTime(), nullable=False),
    sa.Column("successful", sa.BigInteger, nullable=False),
    sa.Column("failed", sa.BigInteger, nullable=False),
    sa.Column("input_sha256", SHA256, sa.ForeignKey("blobs.sha256"), nullable=False),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("ingested_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("org_name", "report_id", name="uq_tls_reports_natural_key"),
)

tls_policies = sa.Table(
    "tls_policies",
    metadata,
    sa.Column("report_pk", sa.Integer, sa.ForeignKey("tls_reports.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("policy_type", sa.Text, nullable=False),
    sa.Column("policy_domain", sa.Text, nullable=False),
    sa.Column("policy_strings", JSONText, nullable=False),
    sa.Column("mx_host_patterns", JSONText, nullable=False),
    sa.Column("successful", sa.BigInteger, nullable=False),
    sa.Column("failed", sa.BigInteger, nullable=False),
    sa.Index("ix_tls_policies_domain", "policy_domain"),
)

tls_failures = sa.Table(
    "tls_failures",
    metadata,
    sa.Column("report_pk", sa.Integer, primary_key=True),
    sa.Column("policy_idx", sa.Integer, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("result_type", sa.Text, nullable=False),
    sa.Column("sending_mta_ip", sa.String(45)),
    sa.Column("receiving_mx_hostname", sa.Text),
    sa.Column("receiving_mx_helo", sa.Text),
    sa.Column("receiving_ip", sa.String(45)),
    sa.Column("failed_session_count", sa.BigInteger, nullable=False),
    sa.Column("additional_information", sa.Text),
    sa.Column("failure_reason_code", sa.Text),
    sa.ForeignKeyConstraint(
        ["report_pk", "policy_idx"], ["tls_policies.report_pk", "tls_policies.idx"], ondelete="CASCADE"
    ),
)

# -- reverse DNS cache: one row per source address, expiring (negative results too) --
rdns_cache = sa.Table(
    "rdns_cache",
    metadata,
    sa.Column("ip", sa.String(45), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # enrich.rdns.PtrStatus
    sa.Column("name", sa.Text),
    sa.Column("confirmed", sa.Boolean, nullable=False),
    sa.Column("checked_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# -- approvals registry (current decisions) and its append-only audit log --
approvals = sa.Table(
    "approvals",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("subject_kind", sa.String(16), primary_key=True),  # policy.approvals.SubjectKind
    sa.Column("subject", sa.Text, primary_key=True),
    sa.Column("decision", sa.String(16), nullable=False),  # policy.approvals.Decision
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("subject_kind", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("previous", sa.String(16)),
    sa.Index("ix_audit_log_domain_at", "domain", "at"),
)

def _counters() -> list[sa.Column[int]]:
    """The rollups' counters (``store.rollups.COUNTERS``): messages, DMARC pass (DKIM or SPF aligned pass),
    DKIM and SPF aligned passes, and the dispositions."""
    return [sa.Column(name, sa.BigInteger, nullable=False)
            for name in ("messages", "dmarc_pass", "dkim_aligned", "spf_aligned", "quarantined", "rejected")]


# -- daily rollup per domain and source: what every dashboard-style query reads --
daily_source_stats = sa.Table(
    "daily_source_stats",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),  # UTC day of the report's begin
    sa.Column("source_ip", sa.String(45), primary_key=True),
    *_counters(),
    sa.Index("ix_daily_source_stats_day", "day"),
)

# -- daily totals per domain (the same counters summed over sources): what time series read --
daily_domain_stats = sa.Table(
    "daily_domain_stats",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    *_counters(),
)

# -- identification evidence per domain, day and source: what attribution reads --
# kind "dkim": a passing DKIM signature by ``value`` (messages = its count);
# kind "envelope": ``value`` seen as the envelope sender / SPF domain (passed = SPF pass count).
daily_source_evidence = sa.Table(
    "daily_source_evidence",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("source_ip", sa.String(45), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("passed", sa.BigInteger, nullable=False),
)

# -- the same two rollups per calendar month (UTC): long windows read ~30x fewer rows --
# A window reads whole months here and its partial first month from the daily tables
# (store/queries.py); both tiers are written in each report's transaction.
monthly_source_stats = sa.Table(
    "monthly_source_stats",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),  # first day of the UTC month of the report's begin
    sa.Column("source_ip", sa.String(45), primary_key=True),
    *_counters(),
)

monthly_source_evidence = sa.Table(
    "monthly_source_evidence",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("month", sa.Date, primary_key=True),
    sa.Column("source_ip", sa.String(45), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("messages", sa.BigInteger, nullable=False),
    sa.Column("passed", sa.BigInteger, nullable=False),
)

# -- publishing (issue 4): per-domain settings, vendors' SPF snapshots, DKIM keys, zone serials --
domain_settings = sa.Table(
    "domain_settings",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("settings", JSONText, nullable=False),  # policy.domains.DomainSettings.to_dict()
    sa.Column("updated_by", sa.Text, nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# What an SPF include (or a domain's own terms) authorised when last resolved, with the DNS answers seen.
spf_snapshots = sa.Table(
    "spf_snapshots",
    metadata,
    sa.Column("kind", sa.String(8), primary_key=True),  # "include" | "own"
    sa.Column("subject", sa.Text, primary_key=True),  # the include's domain, or the domain (own terms)
    sa.Column("terms", sa.Text, nullable=False),  # own terms as written ("" for includes): a change invalidates
    sa.Column("networks", JSONText, nullable=False),
    sa.Column("lookups", sa.Integer, nullable=False),
    sa.Column("problem", sa.Text),
    sa.Column("capture", sa.Text, nullable=False),  # policy.spftree.Capture.to_json()
    sa.Column("resolved_at", UTCDateTime(), nullable=False),
)

dkim_keys = sa.Table(
    "dkim_keys",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("selector", sa.Text, primary_key=True),
    sa.Column("service", sa.Text),  # the catalogue service that signs with it, if any
    sa.Column("key_type", sa.String(8), nullable=False),  # records.dkim.KeyType
    sa.Column("bits", sa.Integer, nullable=False),
    sa.Column("record", sa.Text, nullable=False),  # the DKIM key record (TXT value) to publish
    sa.Column("sealed_key", sa.Text, nullable=False),  # policy.dkimkeys.seal() of the private key
    sa.Column("state", sa.String(12), nullable=False),  # policy.dkimstore.KeyState
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("changed_at", UTCDateTime(), nullable=False),
)

zone_serials = sa.Table(
    "zone_serials",
    metadata,
    sa.Column("zone", sa.Text, primary_key=True),
    sa.Column("serial", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),  # sha256 of the zone's records: a change bumps the serial
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# -- enforcement (issue 6): every stage change of a domain's DMARC policy, append-only --
policy_stages = sa.Table(
    "policy_stages",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("domain", sa.Text, nullable=False),
    sa.Column("stage", sa.String(24), nullable=False),  # policy.stages.Stage
    sa.Column("previous", sa.String(24), nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("forced", sa.Boolean, nullable=False),
    sa.Column("figures", JSONText, nullable=False),  # readiness figures that justified the move
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_policy_stages_domain", "domain", "id"),
)

# Alerts sent, for de-duplication with a quiet period (one row per alert key).
alerts_sent = sa.Table(
    "alerts_sent",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),  # kind + subject, e.g. "new-unknown:203.0.113.0/24"
    sa.Column("kind", sa.String(24), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("first_at", UTCDateTime(), nullable=False),
    sa.Column("last_at", UTCDateTime(), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)

# -- web (issue 8): accounts, server-side sessions, API tokens, login failures (rate limiting) --
web_users = sa.Table(
    "web_users",
    metadata,
    sa.Column("username", sa.Text, primary_key=True),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id (web.accounts)
    sa.Column("role", sa.String(16), nullable=False),  # store.users.Role
    sa.Column("domains", JSONText, nullable=False),  # domains this account may see; ["*"]: all
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

# Only the SHA-256 of a session's or token's random secret is kept: a database leak opens no session.
web_sessions = sa.Table(
    "web_sessions",
    metadata,
    sa.Column("token_hash", SHA256, primary_key=True),
    sa.Column("username", sa.Text, sa.ForeignKey("web_users.username", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

web_api_tokens = sa.Table(
    "web_api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("token_hash", SHA256, nullable=False, unique=True),
    sa.Column("username", sa.Text, sa.ForeignKey("web_users.username", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime()),
)

# One row per failed login, keyed by "user:<name>" and "ip:<address>"; counted over a sliding window.
web_login_failures = sa.Table(
    "web_login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.Text, nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Index("ix_web_login_failures_key_at", "key", "at"),
)

# -- analyses kept for every process (analysis.snapshot): derived data, rebuilt when `version` differs --
analysis_snapshots = sa.Table(
    "analysis_snapshots",
    metadata,
    sa.Column("domain", sa.Text, primary_key=True),
    sa.Column("window", sa.String(48), primary_key=True),  # "<days>:<first day>[:<last day>]"
    sa.Column("version", SHA256, nullable=False),  # digest of the store's data version, catalogue and IP data
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),  # zlib-compressed JSON (analysis.snapshot)
    sa.Column("digest", sa.LargeBinary),  # zlib-compressed JSON (analysis.digest); NULL: not written yet
)
