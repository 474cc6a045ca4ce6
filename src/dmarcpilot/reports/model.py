"""Typed, immutable report values (DESIGN.md, convention 3).

Aggregate reports: RFC 7489 Appendix C and RFC 9990 section 3 / Appendix A.
Failure reports: RFC 6591 (ARF for authentication failures) / RFC 9991.
SMTP TLS reports: RFC 8460 section 4.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from dmarcpilot.records.dmarc import Alignment as Alignment  # policy_published holds the record's own tags
from dmarcpilot.records.dmarc import Policy as Policy

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class ReportKind(enum.Enum):
    AGGREGATE = "aggregate"
    FAILURE = "failure"
    SMTP_TLS = "smtp_tls"


class Schema(enum.Enum):
    RFC7489 = "rfc7489"
    RFC9990 = "rfc9990"


class Disposition(enum.Enum):
    """ActionDispositionType; ``pass`` is new in RFC 9990 Appendix A."""

    NONE = "none"
    PASS = "pass"
    QUARANTINE = "quarantine"
    REJECT = "reject"


class DmarcResult(enum.Enum):
    """DMARCResultType: the aligned outcome in ``policy_evaluated``."""

    PASS = "pass"
    FAIL = "fail"


class DkimResult(enum.Enum):
    """DKIMResultType (RFC 7489 Appendix C, RFC 8601 section 2.7.1)."""

    NONE = "none"
    PASS = "pass"
    FAIL = "fail"
    POLICY = "policy"
    NEUTRAL = "neutral"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class SpfResult(enum.Enum):
    """SPFResultType (RFC 7208 section 2.6)."""

    NONE = "none"
    NEUTRAL = "neutral"
    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


class SpfScope(enum.Enum):
    MFROM = "mfrom"
    HELO = "helo"


class OverrideReason(enum.Enum):
    """PolicyOverrideType of RFC 7489 and RFC 9990 (``policy_test_mode``)."""

    FORWARDED = "forwarded"
    SAMPLED_OUT = "sampled_out"
    TRUSTED_FORWARDER = "trusted_forwarder"
    MAILING_LIST = "mailing_list"
    LOCAL_POLICY = "local_policy"
    POLICY_TEST_MODE = "policy_test_mode"
    OTHER = "other"


class DiscoveryMethod(enum.Enum):
    """RFC 9990: how the receiver found the policy."""

    PSL = "psl"
    TREEWALK = "treewalk"


def _enum(value: enum.Enum | None) -> str | None:
    return None if value is None else str(value.value)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    domain: str
    adkim: Alignment | None = None
    aspf: Alignment | None = None
    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    pct: int | None = None
    fo: str | None = None
    testing: bool | None = None
    discovery_method: DiscoveryMethod | None = None

    def to_dict(self) -> dict[str, Any]:
        testing = None if self.testing is None else ("y" if self.testing else "n")
        return {
            "domain": self.domain,
            "adkim": _enum(self.adkim),
            "aspf": _enum(self.aspf),
            "p": _enum(self.p),
            "sp": _enum(self.sp),
            "np": _enum(self.np),
            "pct": self.pct,
            "fo": self.fo,
            "testing": testing,
            "discovery_method": _enum(self.discovery_method),
        }


# Reason, DkimAuth, SpfAuth and Record are created once per record of reports
# that run to millions of records: they are NamedTuples (immutable, typed, and
# four times cheaper to build than frozen dataclasses).


class Reason(NamedTuple):
    type: OverrideReason | None
    comment: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"type": _enum(self.type), "comment": self.comment}


class DkimAuth(NamedTuple):
    domain: str | None
    selector: str | None
    result: DkimResult | None
    human_result: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "selector": self.selector,
            "result": _enum(self.result),
            "human_result": self.human_result,
        }


class SpfAuth(NamedTuple):
    domain: str | None
    scope: SpfScope | None
    result: SpfResult | None

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "scope": _enum(self.scope), "result": _enum(self.result)}


class Record(NamedTuple):
    """One ``<record>``: a source IP with its volume and results (RFC 7489 Appendix C)."""

    source_ip: IPAddress
    count: int  # type: ignore[assignment]  # the DMARC name; shadows tuple.count on purpose
    disposition: Disposition | None
    dkim: DmarcResult | None
    spf: DmarcResult | None
    reasons: tuple[Reason, ...]
    header_from: str | None
    envelope_from: str | None
    envelope_to: str | None
    dkim_results: tuple[DkimAuth, ...]
    spf_results: tuple[SpfAuth, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_ip": str(self.source_ip),
            "count": self.count,
            "disposition": _enum(self.disposition),
            "dkim": _enum(self.dkim),
            "spf": _enum(self.spf),
            "reasons": [r.to_dict() for r in self.reasons],
            "header_from": self.header_from,
            "envelope_from": self.envelope_from,
            "envelope_to": self.envelope_to,
            "dkim_results": [d.to_dict() for d in self.dkim_results],
            "spf_results": [s.to_dict() for s in self.spf_results],
        }


@dataclass(frozen=True, slots=True)
class AggregateHeader:
    """Everything of an aggregate report but its records."""

    schema: Schema
    version: str | None
    org_name: str | None
    email: str | None
    extra_contact_info: str | None
    report_id: str
    begin: datetime
    end: datetime
    generator: str | None
    policy: PolicyPublished
    reporter_errors: tuple[str, ...] = ()

    @property
    def natural_key(self) -> tuple[str, str, str]:
        """(reporter org, report id, policy domain): unique in the store."""
        return (self.org_name or self.email or "", self.report_id, self.policy.domain)


@dataclass(frozen=True, slots=True)
class AggregateReport:
    """A fully materialised aggregate report (small reports, tests, JSON)."""

    header: AggregateHeader
    records: tuple[Record, ...]
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        h = self.header
        return {
            "kind": ReportKind.AGGREGATE.value,
            "schema": h.schema.value,
            "version": h.version,
            "org_name": h.org_name,
            "email": h.email,
            "extra_contact_info": h.extra_contact_info,
            "report_id": h.report_id,
            "begin": _iso(h.begin),
            "end": _iso(h.end),
            "generator": h.generator,
            "errors_count": len(self.errors),
            "policy": h.policy.to_dict(),
            "records": [r.to_dict() for r in self.records],
        }


@dataclass(frozen=True, slots=True)
class FailureReport:
    """An RFC 6591 / RFC 9991 authentication failure report."""

    feedback_type: str
    user_agent: str | None
    version: str | None
    arrival_date: datetime | None
    source_ip: IPAddress | None
    reported_domain: str | None
    original_mail_from: str | None
    original_rcpt_to: tuple[str, ...]
    auth_failure: tuple[str, ...]
    delivery_result: str | None
    dkim_domain: str | None
    dkim_selector: str | None
    dkim_identity: str | None
    spf_dns: str | None
    identity_alignment: str | None
    authentication_results: str | None
    sample_subject: str | None
    sample_from: str | None
    sample_message_id: str | None
    sample_headers: str | None = field(default=None, compare=False)
    reporter: str | None = None
    report_date: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": ReportKind.FAILURE.value,
            "feedback_type": self.feedback_type,
            "user_agent": self.user_agent,
            "version": self.version,
            "arrival_date": _iso(self.arrival_date),
            "source_ip": None if self.source_ip is None else str(self.source_ip),
            "reported_domain": self.reported_domain,
            "original_mail_from": self.original_mail_from,
            "original_rcpt_to": list(self.original_rcpt_to),
            "auth_failure": list(self.auth_failure),
            "delivery_result": self.delivery_result,
            "dkim_domain": self.dkim_domain,
            "dkim_selector": self.dkim_selector,
            "dkim_identity": self.dkim_identity,
            "spf_dns": self.spf_dns,
            "identity_alignment": self.identity_alignment,
            "authentication_results": self.authentication_results,
            "sample_subject": self.sample_subject,
            "sample_from": self.sample_from,
            "sample_message_id": self.sample_message_id,
        }


@dataclass(frozen=True, slots=True)
class TlsFailure:
    result_type: str
    sending_mta_ip: IPAddress | None
    receiving_mx_hostname: str | None
    receiving_mx_helo: str | None
    receiving_ip: IPAddress | None
    failed_session_count: int
    additional_information: str | None
    failure_reason_code: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "result_type": self.result_type,
            "sending_mta_ip": None if self.sending_mta_ip is None else str(self.sending_mta_ip),
            "receiving_mx_hostname": self.receiving_mx_hostname,
            "receiving_mx_helo": self.receiving_mx_helo,
            "receiving_ip": None if self.receiving_ip is None else str(self.receiving_ip),
            "failed_session_count": self.failed_session_count,
            "additional_information": self.additional_information,
            "failure_reason_code": self.failure_reason_code,
        }


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    policy_type: str
    policy_domain: str
    policy_strings: tuple[str, ...]
    mx_host_patterns: tuple[str, ...]
    successful: int
    failed: int
    failures: tuple[TlsFailure, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_type": self.policy_type,
            "policy_domain": self.policy_domain,
            "policy_strings": list(self.policy_strings),
            "mx_host_patterns": list(self.mx_host_patterns),
            "successful": self.successful,
            "failed": self.failed,
            "failures": [f.to_dict() for f in self.failures],
        }


@dataclass(frozen=True, slots=True)
class TlsReport:
    """An RFC 8460 SMTP TLS report."""

    org_name: str
    report_id: str
    contact_info: str | None
    begin: datetime
    end: datetime
    policies: tuple[TlsPolicy, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": ReportKind.SMTP_TLS.value,
            "org_name": self.org_name,
            "report_id": self.report_id,
            "contact_info": self.contact_info,
            "begin": _iso(self.begin),
            "end": _iso(self.end),
            "policies": [p.to_dict() for p in self.policies],
        }


AnyReport = AggregateReport | FailureReport | TlsReport
