"""Bring a kept analysis up to date with the reports stored since, instead of computing it again.

A window's analysis changes with every report stored for its domain. When
nothing else it depends on changed (decisions, reverse DNS, vendor ranges,
the catalogue, the IP data: the rest of ``store.queries.data_version``) and
the new reports are exactly those with ids above the last one the analysis
saw (their number is checked: a report committed late under a lower id sends
the caller back to the full computation), the new reports' records are
folded into the sources they touch by the rollups' own rules
(``store.rollups``: DMARC pass when the DKIM or SPF verdict passes;
``EvidenceCollector`` for the identification evidence), and only those
sources are attributed again. The result equals a full computation
(``tests/analysis/test_incremental.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from datetime import date

import sqlalchemy as sa

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.identify import SourceEvidence
from dmarcpilot.store.queries import RawRecord, records_of, reports_between
from dmarcpilot.store.rollups import EvidenceCollector

#: More new reports than this: computing the window from the rollups is as cheap.
MAX_NEW_REPORTS = 500

Attributor = Callable[[list[SourceEvidence]], list[AnalysedSource]]


def advance(engine: sa.Engine, domain: str, rows: list[AnalysedSource], old: Sequence[str], new: Sequence[str],
            since: date, until: date | None, attribute_all: Attributor) -> tuple[list[AnalysedSource], set[str]] | None:
    """``rows`` (exactly of basis ``old``) brought to basis ``new``, and the sources that changed.

    None when only a full computation will do.
    """
    inside = reports_to_fold(engine, domain, old, new, since, until)
    if inside is None:
        return None
    if not inside:
        return list(rows), set()
    by_ip = {r.evidence.ip: r for r in rows}
    kept = {ip: r.evidence for ip, r in by_ip.items()}
    touched = fold_records(domain, records_of(engine, inside), kept.get)
    for row in attribute_all(list(touched.values())):
        by_ip[row.evidence.ip] = row
    return sorted(by_ip.values(), key=lambda r: (-r.evidence.messages, r.evidence.ip)), set(touched)


def reports_to_fold(engine: sa.Engine, domain: str, old: Sequence[str], new: Sequence[str], since: date,
                    until: date | None) -> list[int] | None:
    """The reports to fold into an analysis of basis ``old`` to bring it to ``new`` (those inside the window).

    None when only a full computation will do: something besides the reports changed, too many reports
    arrived, or one was committed under a lower id than the analysis saw.
    """
    if len(old) != len(new) or old[2:] != new[2:] or not old[0].isdigit() or not new[0].isdigit():
        return None  # something besides the reports changed, or the domain had no report then
    old_max, new_max = int(old[0]), int(new[0])
    expected = int(new[1]) - int(old[1])
    if new_max < old_max or expected < 0 or expected > MAX_NEW_REPORTS:
        return None
    reports = reports_between(engine, domain, old_max, new_max)
    if len(reports) != expected:
        return None  # a report committed under a lower id, or one removed: not a simple append
    return [pk for pk, day in reports if day >= since and (until is None or day < until)]


def fold_records(domain: str, records: Iterable[RawRecord],
                 kept: Callable[[str], SourceEvidence | None] | None = None) -> dict[str, SourceEvidence]:
    """Sources' evidence from raw records by the rollups' rules, starting from copies of the ``kept`` ones.

    The kept evidence is copied, never changed: other callers may hold it.
    """
    touched: dict[str, SourceEvidence] = {}
    collector = EvidenceCollector(domain)
    for ip, count, dkim, spf, envelope, dkim_results, spf_results in records:
        ev = touched.get(ip)
        if ev is None:
            before = kept(ip) if kept is not None else None
            ev = touched[ip] = copy.deepcopy(before) if before is not None else SourceEvidence(ip)
        ev.messages += count
        ev.dkim_aligned += count if dkim == "pass" else 0
        ev.spf_aligned += count if spf == "pass" else 0
        ev.dmarc_pass += count if "pass" in (dkim, spf) else 0
        collector.add_raw(ip, count, envelope, dkim_results or [], spf_results or [])
    for (ip, kind, value), (messages, passed) in collector.counts.items():
        touched[ip].add_evidence(kind, value, messages, passed)
    return touched
