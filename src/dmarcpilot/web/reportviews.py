"""Stored reports with their raw source, the quarantine, and report upload."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.store.archive import CHUNK, blob_opener
from dmarcpilot.store.domains import ReportKind, StoredReport, stored_report
from dmarcpilot.store.queries import list_quarantine, list_reports
from dmarcpilot.store.users import User
from dmarcpilot.web.errors import Forbidden, NotFound, TooLarge, WebError
from dmarcpilot.web.views import WebState

#: The raw source shown on a page (the whole input is a download).
PREVIEW_BYTES = 256 * 1024
MAX_LISTED = 500


def reports_view(state: WebState, user: User, domain: str | None) -> dict[str, Any]:
    """Stored reports, newest first: of one domain, or of every domain the user may see."""
    if domain is not None:
        rows = list_reports(state.engine, domain, MAX_LISTED)
    elif user.all_domains:
        rows = list_reports(state.engine, None, MAX_LISTED)
    else:
        found = {(r.kind, r.id): r for d in user.domains for r in list_reports(state.engine, d, MAX_LISTED)}
        rows = sorted(found.values(), key=lambda r: (r.begin is None, -(r.begin.timestamp() if r.begin else 0)))
        rows = rows[:MAX_LISTED]
    return {"domain": domain, "reports": [r.to_dict() for r in rows], "limit": MAX_LISTED}


def parse_kind(text: str) -> ReportKind:
    try:
        return ReportKind(text)
    except ValueError:
        raise NotFound(f"no report kind {text!r}") from None


def visible_report(state: WebState, user: User, kind: ReportKind, report_id: int) -> StoredReport:
    report = stored_report(state.engine, kind, report_id)
    if report is None:
        raise NotFound(f"no {kind.value} report {report_id}")
    if not user.all_domains and not any(user.may_see(d) for d in report.domains):
        raise Forbidden("this report is about a domain you have no access to")
    return report


def _preview(state: WebState, sha256: str) -> dict[str, Any]:
    with blob_opener(state.engine, sha256)() as stream:
        head = stream.read(PREVIEW_BYTES + 1)
    encoding = "gzip" if head.startswith(b"\x1f\x8b") else "zip" if head.startswith(b"PK\x03\x04") else None
    if encoding is not None:
        return {"raw_encoding": encoding, "raw_text": None, "raw_truncated": False}
    return {"raw_encoding": None, "raw_text": head[:PREVIEW_BYTES].decode("utf-8", errors="replace"),
            "raw_truncated": len(head) > PREVIEW_BYTES}


def report_view(state: WebState, user: User, kind: ReportKind, report_id: int) -> dict[str, Any]:
    report = visible_report(state, user, kind, report_id)
    return {"kind": report.kind.value, "id": report.id, "domains": list(report.domains), "sha256": report.sha256,
            "source_path": report.source_path, "fields": report.fields, "records": list(report.records),
            **_preview(state, report.sha256)}


def raw_chunks(state: WebState, sha256: str) -> Iterator[bytes]:
    with blob_opener(state.engine, sha256)() as stream:
        yield from iter(lambda: stream.read(CHUNK), b"")


def quarantine_view(state: WebState) -> dict[str, Any]:
    return {"items": list_quarantine(state.engine)}


def ingest_upload(state: WebState, user: User, filename: str, stream: IO[bytes]) -> dict[str, Any]:
    """Copy an uploaded file (within the size limit) to a temporary file and ingest it like any input."""
    limit = state.config.max_upload_bytes
    with tempfile.TemporaryDirectory(prefix="dmarcpilot-upload-") as tmp:
        path = Path(tmp) / "upload"
        size = 0
        with path.open("wb") as out:
            for chunk in iter(lambda: stream.read(CHUNK), b""):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"the upload exceeds {limit} bytes")
                out.write(chunk)
        if size == 0:
            raise WebError("the uploaded file is empty")
        summary = IngestSummary()
        name = filename.replace("\n", " ").replace("\r", " ")[:200] or "upload"
        Ingestor(state.engine).ingest(f"upload by {user.username}: {name}", lambda: path.open("rb"), summary)
    return summary.to_dict()
