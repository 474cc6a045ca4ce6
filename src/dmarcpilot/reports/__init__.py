"""Turning bytes into typed report objects (no database, no DNS)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dmarcpilot.bytestream import Opener
from dmarcpilot.reports.aggregate import AggregateParser, parse_aggregate
from dmarcpilot.reports.envelope import Payload, PayloadKind, Rejection, unwrap
from dmarcpilot.reports.errors import ReportError
from dmarcpilot.reports.failure import parse_failure_report
from dmarcpilot.reports.limits import DEFAULT_LIMITS, Limits
from dmarcpilot.reports.model import AnyReport
from dmarcpilot.reports.tlsrpt import parse_tls_report

__all__ = [
    "AggregateParser",
    "Parsed",
    "Payload",
    "PayloadKind",
    "Rejection",
    "parse_payload",
    "read_reports",
    "unwrap",
]


@dataclass(frozen=True, slots=True)
class Parsed:
    path: str
    report: AnyReport


def _read(opener: Opener) -> bytes:
    with opener() as stream:
        return stream.read()


def parse_payload(payload: Payload) -> AnyReport:
    """Parse one payload fully into memory (use AggregateParser to stream)."""
    if payload.kind is PayloadKind.AGGREGATE_XML:
        return parse_aggregate(payload.opener, name=payload.path)
    if payload.kind is PayloadKind.TLS_JSON:
        return parse_tls_report(_read(payload.opener))
    return parse_failure_report(_read(payload.opener))


def read_reports(path: str, opener: Opener, limits: Limits = DEFAULT_LIMITS) -> Iterator[Parsed | Rejection]:
    """Every report in an input, fully parsed, and a rejection per bad part."""
    for item in unwrap(path, opener, limits):
        if isinstance(item, Rejection):
            yield item
            continue
        try:
            yield Parsed(item.path, parse_payload(item))
        except ReportError as exc:
            yield Rejection(item.path, exc.reason)
