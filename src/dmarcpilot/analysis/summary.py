"""The headline a team reports for a domain.

"N sources across M countries sent mail as DOMAIN; X % of messages passed
DMARC; Y % of approved senders' mail passed." DMARC passes when DKIM or SPF
passes aligned (RFC 9989 section 4.4), as the receivers' ``policy_evaluated``
says. Approved senders are the approved networks of the approvals registry
and the sources attributed to approved catalogue services.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.figures import rate, window_start
from dmarcpilot.analysis.senders import digest
from dmarcpilot.enrich.catalogue import Catalogue, load_catalogue
from dmarcpilot.enrich.ipdata import IpDatabase


@dataclass(frozen=True, slots=True)
class Summary:
    domain: str
    since: date
    messages: int
    dmarc_pass: int
    sources: int
    countries: int | None  # None: no IP data configured
    approved_messages: int
    approved_pass: int

    @property
    def dmarc_pass_rate(self) -> float | None:
        return rate(self.dmarc_pass, self.messages)

    @property
    def approved_pass_rate(self) -> float | None:
        return rate(self.approved_pass, self.approved_messages)

    def headline(self) -> str:
        countries = "an unknown number of" if self.countries is None else str(self.countries)
        rate = "n/a" if self.dmarc_pass_rate is None else f"{self.dmarc_pass_rate:.1f} %"
        approved = ("no approved senders yet" if self.approved_pass_rate is None
                    else f"{self.approved_pass_rate:.1f} % of approved senders' mail passed")
        return (f"{self.sources} sources across {countries} countries sent {self.messages} messages as "
                f"{self.domain} since {self.since.isoformat()}; {rate} passed DMARC; {approved}.")

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain, "since": self.since.isoformat(), "messages": self.messages,
            "sources": self.sources, "countries": self.countries, "dmarc_pass_rate": self.dmarc_pass_rate,
            "approved_messages": self.approved_messages, "approved_pass_rate": self.approved_pass_rate,
            "headline": self.headline(),
        }


def summarise(engine: sa.Engine, domain: str, days: int, ipdb: IpDatabase, today: date | None = None,
              catalogue: Catalogue | None = None) -> Summary:
    """The headline's figures, from the digest of the window's analysis (``analysis.digest``).

    Approved senders are known only by attribution (approved services) or by
    the approvals registry's networks, which the analysis applies both.
    """
    found = digest(engine, domain, days, ipdb, catalogue or load_catalogue(), today)
    return Summary(domain=domain, since=window_start(days, today), messages=found.messages,
                   dmarc_pass=found.dmarc_pass, sources=found.sources,
                   countries=found.country_count if ipdb.available else None,
                   approved_messages=found.approved_messages, approved_pass=found.approved_pass)
