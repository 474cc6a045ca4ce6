"""Ingest inputs: archive the original, unwrap, parse, store, quarantine.

Guarantees (DEVELOPERS.md, "Bad input never loses data"):

- the original bytes of every input are archived before anything else;
- every part that cannot be used is quarantined with its reason, and the rest
  of the input and of the batch goes on;
- each report is stored in one transaction, idempotently by its natural key;
- an input is marked done only after all of that, so a crash means the next
  run processes it again, and a finished input is a no-op when it comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from dmarcpilot.bytestream import Opener
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.reports import AggregateParser, Payload, PayloadKind, Rejection, unwrap
from dmarcpilot.reports.errors import RecoverableXml, ReportError
from dmarcpilot.reports.failure import parse_failure_report
from dmarcpilot.reports.limits import DEFAULT_LIMITS, Limits
from dmarcpilot.reports.model import ReportKind
from dmarcpilot.reports.tlsrpt import parse_tls_report
from dmarcpilot.sources.files import Input, Unreadable
from dmarcpilot.store.archive import blob_opener, digest
from dmarcpilot.store.inputs import finish_input, quarantined_inputs, register_input
from dmarcpilot.store.writer import (
    Outcome,
    Provenance,
    StoreResult,
    store_aggregate,
    store_failure,
    store_tls,
)

#: The store cannot be reached or used right now (connection lost, refused, locked, out of space):
#: an error of the moment, never of the input, so it is raised to the caller rather than quarantined.
STORE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError)

log = logging.getLogger(__name__)

_KIND = {
    PayloadKind.AGGREGATE_XML: ReportKind.AGGREGATE,
    PayloadKind.FAILURE_MAIL: ReportKind.FAILURE,
    PayloadKind.TLS_JSON: ReportKind.SMTP_TLS,
}


@dataclass
class Ingestor:
    engine: sa.Engine
    limits: Limits = DEFAULT_LIMITS
    on_input: Callable[[str], None] | None = None

    def run(self, items: Iterable[Input | Unreadable], summary: IngestSummary | None = None) -> IngestSummary:
        summary = summary or IngestSummary()
        for item in items:
            if self.on_input is not None:
                self.on_input(item.origin)
            if isinstance(item, Unreadable):
                summary.reject(item.origin, item.reason)
                continue
            self.ingest(item.origin, item.opener, summary)
        return summary

    def ingest(self, origin: str, opener: Opener, summary: IngestSummary, force: bool = False) -> None:
        """Ingest one input; ``force`` re-processes an input already done."""
        summary.inputs += 1
        try:
            ref = digest(opener)
        except OSError as exc:
            summary.reject(origin, f"cannot read: {exc.strerror or exc}")
            return
        if ref.size > self.limits.max_input_bytes:
            summary.reject(origin, f"input of {ref.size} bytes exceeds the limit of "
                                   f"{self.limits.max_input_bytes} bytes; not archived, left in place")
            return
        earlier = register_input(self.engine, ref, opener, origin)
        if earlier is not None and not force:
            summary.inputs_duplicate += 1
            summary.reports_duplicate += earlier.reports
            for part, reason in earlier.rejected:
                summary.reject(origin, f"{reason} (same content as {part}, quarantined earlier)", earlier=True)
            return
        reports, rejected = self._process(origin, opener, ref.sha256, summary)
        finish_input(self.engine, ref.sha256, origin, reports, rejected)
        for part, reason in rejected:
            summary.reject(part, reason)

    def _process(self, origin: str, opener: Opener, sha256: str,
                 summary: IngestSummary) -> tuple[int, list[tuple[str, str]]]:
        reports = 0
        rejected: list[tuple[str, str]] = []
        try:
            for item in unwrap(origin, opener, self.limits):
                if isinstance(item, Rejection):
                    rejected.append((item.path, item.reason))
                    continue
                try:
                    result = self._store(item, Provenance(sha256, item.path))
                except ReportError as exc:
                    rejected.append((item.path, exc.reason))
                    continue
                reports += 1
                self._count(summary, item.kind, result)
        except STORE_UNAVAILABLE:
            raise  # not the input's fault: it stays unfinished, and is done again when the store is back
        except Exception as exc:  # a bug must not stop the batch: quarantine and go on
            log.exception("internal error while ingesting %s", origin)
            rejected.append((origin, f"internal error ({type(exc).__name__}: {exc}); kept for reingest"))
        return reports, rejected

    @staticmethod
    def _count(summary: IngestSummary, kind: PayloadKind, result: StoreResult) -> None:
        if result.outcome is Outcome.DUPLICATE:
            summary.reports_duplicate += 1
            return
        summary.reports_ingested += 1
        summary.by_type[_KIND[kind].value] += 1
        summary.records += result.records
        summary.messages += result.messages

    def _store(self, payload: Payload, prov: Provenance) -> StoreResult:
        if payload.kind is PayloadKind.AGGREGATE_XML:
            return self._store_aggregate(payload, prov)
        with payload.opener() as stream:
            data = stream.read()
        if payload.kind is PayloadKind.TLS_JSON:
            return store_tls(self.engine, parse_tls_report(data), prov)
        return store_failure(self.engine, parse_failure_report(data), prov)

    def _store_aggregate(self, payload: Payload, prov: Provenance) -> StoreResult:
        parser = AggregateParser(payload.opener, name=payload.path)
        try:
            return store_aggregate(self.engine, parser.events(), prov, parser.errors)
        except RecoverableXml as exc:
            # Strict parsing failed: the transaction rolled back; parse again
            # the way libxml2 recovers and keep the reason with the report.
            parser = AggregateParser(payload.opener, name=payload.path, recover=True)
            parser.errors.append(f"{exc.reason}; recovered")
            return store_aggregate(self.engine, parser.events(), prov, parser.errors)


def reingest_quarantined(ingestor: Ingestor, summary: IngestSummary | None = None) -> IngestSummary:
    """Retry every quarantined input from the archive (after an upgrade)."""
    summary = summary or IngestSummary()
    for sha256, origin in quarantined_inputs(ingestor.engine):
        if ingestor.on_input is not None:
            ingestor.on_input(origin)
        ingestor.ingest(origin, blob_opener(ingestor.engine, sha256), summary, force=True)
    return summary
