"""Keep the shared analyses (``analysis.snapshot``) current, so no page or command waits for one.

Safe to run in any number of processes at once: an analysis already current
in the store is skipped after a version check, and two processes computing
the same one write the same snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from dmarcpilot.analysis.senders import analyse, flush_saves, is_current
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase
from dmarcpilot.policy.enforcement import DEFAULT_DAYS
from dmarcpilot.store.domains import all_domains

#: The windows people look at by default: the plan (enforcement), the dashboard and commands, a year.
WINDOWS = (DEFAULT_DAYS, 30, 365)


def refresh_analyses(engine: sa.Engine, ipdb: IpDatabase, catalogue: Catalogue,
                     windows: Sequence[int] = WINDOWS, today: date | None = None) -> dict[str, Any]:
    """Analyse every domain's windows whose stored analysis is not of the current data."""
    computed: dict[str, list[int]] = {}
    domains = all_domains(engine)
    for domain in domains:
        for days in windows:
            if not is_current(engine, domain, days, ipdb, catalogue, today):
                analyse(engine, domain, days, ipdb, catalogue, today)
                computed.setdefault(domain, []).append(days)
    flush_saves()
    return {"domains": len(domains), "computed": computed}
