"""Storing parsed reports: one transaction per report, idempotent by natural key.

A report is either stored whole or not at all: the header row, every record
and the final counts are written in one transaction, so a crash in the middle
leaves nothing behind and the next run stores it again.
"""

from __future__ import annotations

import enum
import hashlib
import json
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from dmarcpilot.reports.model import (
    AggregateHeader,
    DkimAuth,
    FailureReport,
    Reason,
    Record,
    SpfAuth,
    TlsReport,
)
from dmarcpilot.store import rollups
from dmarcpilot.store.dialect import bulk_insert, insert_ignore
from dmarcpilot.store.schema import (
    aggregate_records,
    aggregate_reports,
    failure_reports,
    tls_failures,
    tls_policies,
    tls_reports,
)

BATCH = 10_000
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_encode_string: Any = getattr(json.encoder, "c_encode_basestring", None) or json.encoder.py_encode_basestring

RECORD_COLUMNS = (
    "report_pk", "rec_no", "source_ip", "count", "disposition", "dkim", "spf", "reasons",
    "header_from", "envelope_from", "envelope_to", "dkim_results", "spf_results",
)


class Outcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class StoreResult:
    outcome: Outcome
    records: int = 0
    messages: int = 0


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a report came from: the archived input and the path inside it."""

    input_sha256: str
    path: str


def _v(value: enum.Enum | None) -> str | None:
    return None if value is None else value.value


def _q(value: str | None) -> str:
    """A JSON string or null (C-accelerated escaping)."""
    return "null" if value is None else _encode_string(value)


def _qe(value: enum.Enum | None) -> str:
    return "null" if value is None else '"' + value._value_ + '"'


def _reasons_json(reasons: tuple[Reason, ...]) -> str:
    if not reasons:
        return "[]"
    return "[" + ",".join([f'{{"type":{_qe(x.type)},"comment":{_q(x.comment)}}}' for x in reasons]) + "]"


_DKIM_JSON = '{"domain":%s,"selector":%s,"result":%s,"human_result":%s}'
_SPF_JSON = '{"domain":%s,"scope":%s,"result":%s}'


def _dkim_json(results: tuple[DkimAuth, ...]) -> str:
    return "[" + ",".join(
        [_DKIM_JSON % (_q(d.domain), _q(d.selector), _qe(d.result), _q(d.human_result)) for d in results]
    ) + "]"


def _spf_json(results: tuple[SpfAuth, ...]) -> str:
    return "[" + ",".join([_SPF_JSON % (_q(s.domain), _qe(s.scope), _qe(s.result)) for s in results]) + "]"


def _record_row(pk: int, rec_no: int, r: Record) -> tuple[Any, ...]:
    """A record as a row; the JSON columns are written by hand (json.dumps costs 3x).

    ``_value_`` is the member's plain attribute; ``.value`` is a descriptor
    that costs more than the rest of the row on a million records.
    """
    disposition, dkim, spf = r.disposition, r.dkim, r.spf
    return (
        pk, rec_no, str(r.source_ip), r.count,
        None if disposition is None else disposition._value_,
        None if dkim is None else dkim._value_,
        None if spf is None else spf._value_,
        _reasons_json(r.reasons), r.header_from, r.envelope_from, r.envelope_to,
        _dkim_json(r.dkim_results), _spf_json(r.spf_results),
    )


def _header_values(h: AggregateHeader, prov: Provenance) -> dict[str, Any]:
    org, report_id, domain = h.natural_key
    p = h.policy
    return {
        "org_name": org, "report_id": report_id, "domain": domain, "email": h.email,
        "extra_contact_info": h.extra_contact_info, "begin_at": h.begin, "end_at": h.end,
        "schema": h.schema.value, "version": h.version, "generator": h.generator,
        "adkim": _v(p.adkim), "aspf": _v(p.aspf), "p": _v(p.p), "sp": _v(p.sp), "np": _v(p.np),
        "pct": p.pct, "fo": p.fo, "testing": p.testing, "discovery_method": _v(p.discovery_method),
        "reporter_errors": list(h.reporter_errors), "parse_errors": [],
        "input_sha256": prov.input_sha256, "source_path": prov.path, "ingested_at": datetime.now(UTC),
    }


def _insert_returning_pk(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> int | None:
    stmt = insert_ignore(conn, table).values(**values).returning(table.c.id)
    return conn.execute(stmt).scalar()


def store_aggregate(
    engine: sa.Engine,
    events: Iterator[AggregateHeader | Record],
    prov: Provenance,
    errors: list[str],
) -> StoreResult:
    """Store one streamed aggregate report in one transaction.

    ``events`` is ``AggregateParser.events()``: a header, then records.
    ``errors`` is the parser's list, complete once ``events`` is exhausted.
    Parsing errors raised while streaming roll the whole report back.
    """
    with engine.begin() as conn:
        header = next(events)
        if not isinstance(header, AggregateHeader):
            raise TypeError("aggregate events must start with the header")
        pk = _insert_returning_pk(conn, aggregate_reports, _header_values(header, prov))
        if pk is None:
            return StoreResult(Outcome.DUPLICATE)
        rows: list[tuple[Any, ...]] = []
        count = messages = 0
        evidence = rollups.EvidenceCollector(header.policy.domain)
        with _BatchWriter(conn) as writer:
            for record in events:
                count += 1
                messages += record.count  # type: ignore[union-attr]
                rows.append(_record_row(pk, count, record))  # type: ignore[arg-type]
                evidence.add(record)  # type: ignore[arg-type]
                if len(rows) >= BATCH:
                    writer.put(rows)
                    rows = []
            writer.put(rows)
        conn.execute(
            aggregate_reports.update()
            .where(aggregate_reports.c.id == pk)
            .values(record_count=count, message_count=messages, parse_errors=list(errors))
        )
        rollups.add_report(conn, pk, header.policy.domain, header.begin)
        evidence.write(conn, header.policy.domain, header.begin.astimezone(UTC).date())
    return StoreResult(Outcome.STORED, count, messages)


class _BatchWriter:
    """Loads record batches; on PostgreSQL on a second thread while the parser reads on.

    psycopg releases the GIL while COPY waits on the server, so parsing and
    loading overlap on two cores. SQLite binds parameters
    holding the GIL, where a thread only adds switching: batches load inline.
    The connection is used by the thread only between ``__enter__`` and
    ``__exit__``; the caller's transaction ends after the thread has stopped.
    """

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._threaded = conn.dialect.name == "postgresql"
        self._queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="dmarcpilot-bulk-load", daemon=True)

    def __enter__(self) -> _BatchWriter:
        if self._threaded:
            self._thread.start()
        return self

    def _run(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is None:
                try:
                    bulk_insert(self._conn, aggregate_records, RECORD_COLUMNS, rows)
                except BaseException as exc:  # handed to the parsing thread
                    self._error = exc

    def put(self, rows: list[tuple[Any, ...]]) -> None:
        if self._error is not None:
            raise self._error
        if not rows:
            return
        if self._threaded:
            self._queue.put(rows)
        else:
            bulk_insert(self._conn, aggregate_records, RECORD_COLUMNS, rows)

    def __exit__(self, *exc_info: object) -> None:
        if not self._threaded:
            return
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error


def failure_fingerprint(report: FailureReport) -> str:
    """Identity of a failure report: its fields and the reported headers.

    RFC 6591 reports carry no report id; the same report delivered twice (or
    with CRLF instead of LF line ends) has the same fields and headers.
    """
    canonical = _dumps(report.to_dict()) + "\n" + " ".join((report.sample_headers or "").split())
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def store_failure(engine: sa.Engine, report: FailureReport, prov: Provenance) -> StoreResult:
    values = report.to_dict()
    del values["kind"]
    values.update(
        fingerprint=failure_fingerprint(report),
        arrival_date=report.arrival_date,
        sample_headers=report.sample_headers,
        reporter=report.reporter,
        report_date=report.report_date,
        input_sha256=prov.input_sha256,
        source_path=prov.path,
        ingested_at=datetime.now(UTC),
    )
    with engine.begin() as conn:
        pk = _insert_returning_pk(conn, failure_reports, values)
    return StoreResult(Outcome.STORED if pk is not None else Outcome.DUPLICATE)


def store_tls(engine: sa.Engine, report: TlsReport, prov: Provenance) -> StoreResult:
    header = {
        "org_name": report.org_name, "report_id": report.report_id, "contact_info": report.contact_info,
        "begin_at": report.begin, "end_at": report.end,
        "successful": sum(p.successful for p in report.policies),
        "failed": sum(p.failed for p in report.policies),
        "input_sha256": prov.input_sha256, "source_path": prov.path, "ingested_at": datetime.now(UTC),
    }
    with engine.begin() as conn:
        pk = _insert_returning_pk(conn, tls_reports, header)
        if pk is None:
            return StoreResult(Outcome.DUPLICATE)
        for idx, policy in enumerate(report.policies):
            row = policy.to_dict()
            failures = row.pop("failures")
            conn.execute(tls_policies.insert().values(report_pk=pk, idx=idx, **row))
            if failures:
                conn.execute(
                    tls_failures.insert(),
                    [dict(f, report_pk=pk, policy_idx=idx, idx=i) for i, f in enumerate(failures)],
                )
    return StoreResult(Outcome.STORED)
