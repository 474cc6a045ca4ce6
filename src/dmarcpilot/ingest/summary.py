"""What one ingest run did, for people (table) and scripts (JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dmarcpilot.reports.model import ReportKind


@dataclass
class Rejected:
    path: str
    reason: str
    earlier: bool = False  # reported by an earlier run of the same input

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "earlier": self.earlier}


@dataclass
class IngestSummary:
    inputs: int = 0
    inputs_duplicate: int = 0
    reports_ingested: int = 0
    reports_duplicate: int = 0
    by_type: dict[str, int] = field(default_factory=lambda: {k.value: 0 for k in ReportKind})
    records: int = 0
    messages: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def reject(self, path: str, reason: str, earlier: bool = False) -> None:
        self.rejected.append(Rejected(path, reason, earlier))

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs,
            "inputs_duplicate": self.inputs_duplicate,
            "reports_ingested": self.reports_ingested,
            "reports_duplicate": self.reports_duplicate,
            "by_type": dict(self.by_type),
            "records": self.records,
            "messages": self.messages,
            "rejected": [r.to_dict() for r in self.rejected],
        }
