"""One analysed source address: its counters, IP data, reverse DNS, attribution, class and status."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dmarcpilot.analysis.figures import rate
from dmarcpilot.analysis.identify import Attribution, SenderClass, SourceEvidence
from dmarcpilot.enrich.ipdata import IpInfo


@dataclass(frozen=True, slots=True)
class AnalysedSource:
    evidence: SourceEvidence
    info: IpInfo
    ptr: str | None
    ptr_confirmed: bool
    attribution: Attribution
    sender_class: SenderClass
    status: str  # approved | rejected | pending

    def to_dict(self) -> dict[str, Any]:
        ev, service = self.evidence, self.attribution.service
        return {
            "ip": ev.ip, "service": service.id if service else None, "group": self.attribution.group,
            "class": self.sender_class.value, "status": self.status, "messages": ev.messages,
            "dmarc_pass_rate": rate(ev.dmarc_pass, ev.messages), "country": self.info.country,
            "asn": self.info.asn, "as_org": self.info.as_name, "ptr": self.ptr, "ptr_confirmed": self.ptr_confirmed,
            "confidence": self.attribution.confidence.value if self.attribution.confidence else None,
            "evidence": list(self.attribution.evidence),
        }
