"""The RFC 7208 SPF evaluator, with an injected DNS client and the §4.6.4 limits.

Reused by the policy compiler (``evaluate_record`` on candidate records),
the checks and the inbound verifier.
"""

from dmarcpilot.spf.evaluator import (
    DEFAULT_LIMITS,
    check_host,
    check_mail_from,
    domain_problem,
    evaluate_record,
    parse_record,
    spf_identity,
)
from dmarcpilot.spf.result import SpfLimits, SpfOutcome, SpfResult, TraceEvent, TraceLookup, TraceTerm

__all__ = [
    "DEFAULT_LIMITS",
    "SpfLimits",
    "SpfOutcome",
    "SpfResult",
    "TraceEvent",
    "TraceLookup",
    "TraceTerm",
    "check_host",
    "check_mail_from",
    "domain_problem",
    "evaluate_record",
    "parse_record",
    "spf_identity",
]
