"""SMTP TLS reports (RFC 8460 section 4, JSON)."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime
from typing import Any

from dmarcpilot.reports.errors import LimitExceeded, MalformedReport, NotAReport
from dmarcpilot.reports.model import IPAddress, TlsFailure, TlsPolicy, TlsReport


def parse_tls_report(data: bytes) -> TlsReport:
    """Parse one RFC 8460 report; field names are those of section 4.4."""
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise MalformedReport(f"TLS report is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise MalformedReport(f"invalid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise LimitExceeded("JSON nested deeper than the parser's limit") from None
    if not isinstance(doc, dict) or "policies" not in doc or "report-id" not in doc:
        raise NotAReport("JSON document is not an SMTP TLS report (no report-id / policies)")
    dates = _obj(doc.get("date-range"), "date-range")
    policies = doc.get("policies")
    if not isinstance(policies, list):
        raise MalformedReport("TLS report: policies is not a list")
    return TlsReport(
        org_name=_str(doc.get("organization-name"), "organization-name") or "",
        report_id=_str(doc.get("report-id"), "report-id") or "",
        contact_info=_str(doc.get("contact-info"), "contact-info"),
        begin=_date(dates.get("start-datetime"), "start-datetime"),
        end=_date(dates.get("end-datetime"), "end-datetime"),
        policies=tuple(_policy(p) for p in policies),
    )


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedReport(f"TLS report: {what} is missing or not an object")
    return value


def _str(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        raise MalformedReport(f"TLS report: {what} is not a string")
    text = str(value).strip()
    return text or None


def _strs(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise MalformedReport(f"TLS report: {what} is not a list of strings")
    return tuple(s for s in (_str(v, what) for v in value) if s)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedReport(f"TLS report: {what} is not an integer")
    try:
        number = int(value)
    except ValueError:
        raise MalformedReport(f"TLS report: {what} is not an integer") from None
    if number < 0:
        raise MalformedReport(f"TLS report: {what} is negative")
    return number


def _ip(value: Any, what: str) -> IPAddress | None:
    text = _str(value, what)
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise MalformedReport(f"TLS report: {what} {text[:64]!r} is not an IP address") from None


def _date(value: Any, what: str) -> datetime:
    text = _str(value, what)
    if text is None:
        raise MalformedReport(f"TLS report: {what} is missing")
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise MalformedReport(f"TLS report: {what} {text[:40]!r} is not an RFC 3339 date") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _policy(value: Any) -> TlsPolicy:
    entry = _obj(value, "policies[]")
    policy = _obj(entry.get("policy"), "policy")
    summary = _obj(entry.get("summary"), "summary")
    failures = entry.get("failure-details") or []
    if not isinstance(failures, list):
        raise MalformedReport("TLS report: failure-details is not a list")
    return TlsPolicy(
        policy_type=(_str(policy.get("policy-type"), "policy-type") or "").lower(),
        policy_domain=(_str(policy.get("policy-domain"), "policy-domain") or "").lower(),
        policy_strings=_strs(policy.get("policy-string"), "policy-string"),
        mx_host_patterns=_strs(policy.get("mx-host"), "mx-host"),
        successful=_int(summary.get("total-successful-session-count", 0), "total-successful-session-count"),
        failed=_int(summary.get("total-failure-session-count", 0), "total-failure-session-count"),
        failures=tuple(_failure(f) for f in failures),
    )


def _failure(value: Any) -> TlsFailure:
    entry = _obj(value, "failure-details[]")
    return TlsFailure(
        result_type=(_str(entry.get("result-type"), "result-type") or "").lower(),
        sending_mta_ip=_ip(entry.get("sending-mta-ip"), "sending-mta-ip"),
        receiving_mx_hostname=_str(entry.get("receiving-mx-hostname"), "receiving-mx-hostname"),
        receiving_mx_helo=_str(entry.get("receiving-mx-helo"), "receiving-mx-helo"),
        receiving_ip=_ip(entry.get("receiving-ip"), "receiving-ip"),
        failed_session_count=_int(entry.get("failed-session-count", 0), "failed-session-count"),
        additional_information=_str(entry.get("additional-information"), "additional-information"),
        failure_reason_code=_str(entry.get("failure-reason-code"), "failure-reason-code"),
    )
