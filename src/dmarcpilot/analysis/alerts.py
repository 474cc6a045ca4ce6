"""What is worth waking someone for: new unknown senders, a falling approved sender, a spoofing surge, drift.

Each detector compares a recent window (default: the last 2 days) with the
baseline before it (default: the 14 days before), from the analysed sources
of each window; they return alerts as values with a stable key, which the
alert job uses to send each one once per quiet period.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dmarcpilot.analysis.figures import rate
from dmarcpilot.analysis.identify import SenderClass
from dmarcpilot.analysis.senders import AnalysedSource


class AlertKind(enum.Enum):
    NEW_UNKNOWN = "new-unknown"
    PASS_DROP = "pass-drop"
    SPOOF_SURGE = "spoof-surge"
    DRIFT = "drift"


@dataclass(frozen=True)
class Alert:
    domain: str
    kind: AlertKind
    subject: str  # what it is about: a source address, a service, "spoofing", a record name
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject}"

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "kind": self.kind.value, "subject": self.subject, "message": self.message,
                "details": self.details}


@dataclass(frozen=True)
class Thresholds:
    new_source_messages: int = 100  # a new unknown source must send at least this much in the recent window
    drop_points: float = 10.0  # an approved sender's pass rate falling by this many percentage points
    drop_min_messages: int = 50
    surge_factor: float = 3.0  # suspicious mail per day this many times the baseline's
    surge_min_messages: int = 500


DEFAULT_THRESHOLDS = Thresholds()
UNKNOWN_CLASSES = (SenderClass.UNKNOWN, SenderClass.SUSPICIOUS)


def new_unknown_sources(domain: str, recent: list[AnalysedSource], first_seen: Mapping[str, date],
                        recent_start: date, limits: Thresholds = DEFAULT_THRESHOLDS) -> list[Alert]:
    """Unknown or suspicious sources first seen in the recent window, above the volume threshold."""
    alerts = []
    for source in recent:
        ev = source.evidence
        seen = first_seen.get(ev.ip)
        if source.sender_class in UNKNOWN_CLASSES and seen is not None and seen >= recent_start \
                and ev.messages >= limits.new_source_messages:
            alerts.append(Alert(domain, AlertKind.NEW_UNKNOWN, ev.ip,
                                f"new {source.sender_class.value} source {ev.ip} ({source.attribution.group}) sent "
                                f"{ev.messages} messages as {domain} since {seen}, {rate(ev.dmarc_pass, ev.messages)} "
                                "% passing DMARC",
                                {"ip": ev.ip, "group": source.attribution.group, "messages": ev.messages,
                                 "first_seen": seen.isoformat(), "class": source.sender_class.value}))
    return alerts


def _approved_rates(sources: Iterable[AnalysedSource]) -> dict[str, tuple[int, int]]:
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for source in sources:
        if source.sender_class is SenderClass.APPROVED:
            entry = totals[source.attribution.group]
            entry[0] += source.evidence.messages
            entry[1] += source.evidence.dmarc_pass
    return {group: (m, p) for group, (m, p) in totals.items()}


def pass_rate_drops(domain: str, recent: list[AnalysedSource], baseline: list[AnalysedSource],
                    limits: Thresholds = DEFAULT_THRESHOLDS) -> list[Alert]:
    """Approved senders whose DMARC pass rate fell by ``drop_points`` or more against the baseline."""
    before = _approved_rates(baseline)
    alerts = []
    for group, (messages, passed) in sorted(_approved_rates(recent).items()):
        if group not in before or messages < limits.drop_min_messages:
            continue
        now_rate, old_rate = rate(passed, messages), rate(*reversed(before[group]))
        if now_rate is None or old_rate is None or old_rate - now_rate < limits.drop_points:
            continue
        alerts.append(Alert(domain, AlertKind.PASS_DROP, group,
                            f"approved sender {group}: DMARC pass rate {now_rate:.1f} % recently, "
                            f"{old_rate:.1f} % before ({messages} messages)",
                            {"group": group, "recent_pass_rate": now_rate, "baseline_pass_rate": old_rate,
                             "recent_messages": messages}))
    return alerts


def spoofing_surge(domain: str, recent: list[AnalysedSource], recent_days: int, baseline: list[AnalysedSource],
                   baseline_days: int, limits: Thresholds = DEFAULT_THRESHOLDS) -> list[Alert]:
    """Suspicious mail per day ``surge_factor`` times the baseline's, and above ``surge_min_messages``."""
    def per_day(sources: list[AnalysedSource], days: int) -> float:
        failing = sum(s.evidence.messages - s.evidence.dmarc_pass for s in sources
                      if s.sender_class is SenderClass.SUSPICIOUS)
        return failing / max(days, 1)

    now, before = per_day(recent, recent_days), per_day(baseline, baseline_days)
    if now * recent_days < limits.surge_min_messages or now < limits.surge_factor * max(before, 1.0):
        return []
    return [Alert(domain, AlertKind.SPOOF_SURGE, "spoofing",
                  f"spoofing surge: {now:.0f} suspicious messages a day recently against {before:.0f} before",
                  {"recent_per_day": round(now, 1), "baseline_per_day": round(before, 1)})]


def drift_alerts(domain: str, differences: Iterable[tuple[str, str]]) -> list[Alert]:
    """One alert per published record that differs from the compiled one: (record name, what differs)."""
    return [Alert(domain, AlertKind.DRIFT, name, f"published record {name} drifted: {what}", {"record": name})
            for name, what in differences]
