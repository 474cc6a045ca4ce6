"""One row per source address of a domain: volume, pass rate, and what is known of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from dmarcpilot.enrich.ipdata import IpDatabase, IpInfo
from dmarcpilot.store.queries import reverse_names, source_totals


@dataclass(frozen=True, slots=True)
class SourceRow:
    ip: str
    messages: int
    dmarc_pass: int
    info: IpInfo
    ptr: str | None
    ptr_confirmed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip, "messages": self.messages,
            "dmarc_pass_rate": round(100.0 * self.dmarc_pass / self.messages, 2) if self.messages else None,
            "country": self.info.country, "asn": self.info.asn, "as_org": self.info.as_name,
            "as_domain": self.info.as_domain, "ptr": self.ptr, "ptr_confirmed": self.ptr_confirmed,
            # attribution to catalogue services comes with the service catalogue
            "service": None, "class": "unknown",
        }


def list_sources(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase,
                 today: date | None = None) -> list[SourceRow]:
    """Sources by volume, largest first."""
    since = (today or datetime.now(UTC).date()) - timedelta(days=days - 1)
    totals = sorted(source_totals(engine, domain, since), key=lambda t: (-t.messages, t.source_ip))
    names = reverse_names(engine, [t.source_ip for t in totals])
    return [
        SourceRow(t.source_ip, t.messages, t.dmarc_pass, ipdb.lookup(t.source_ip),
                  *names.get(t.source_ip, (None, False)))
        for t in totals
    ]
