"""Is a domain ready for its next DMARC policy stage? Pass rates, gates, blockers and the what-if.

Legitimate mail is the approved senders' mail (approved services and
networks). A DMARC pass is an aligned DKIM or SPF pass (RFC 9989 §4.4), as
the receivers' ``policy_evaluated`` reports it. Everything is computed from
the analysed sources of the window (the rollups), never from raw records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from dmarcpilot.analysis.figures import rate
from dmarcpilot.analysis.identify import SenderClass
from dmarcpilot.analysis.senders import AnalysedSource
from dmarcpilot.policy.stages import Stage
from dmarcpilot.records.dmarc import Policy


@dataclass(frozen=True)
class Gates:
    """Minimum pass rate of legitimate mail to enter each stage, and the least mail to judge by.

    The first gate is the organisation's: 90 % before any quarantine, even in
    testing; each real tightening asks for more. A service whose own pass
    rate is under the gate of the target stage blocks the move.
    """

    approved_pass: dict[Stage, float] = field(default_factory=lambda: {
        Stage.QUARANTINE_TESTING: 90.0, Stage.QUARANTINE: 95.0, Stage.REJECT_TESTING: 97.0, Stage.REJECT: 98.0})
    min_messages: int = 1000

    def threshold(self, stage: Stage) -> float:
        return self.approved_pass.get(stage, 0.0)


DEFAULT_GATES = Gates()


@dataclass(frozen=True)
class ServiceRate:
    """One approved sender (a service, or an approved network's sources) over the window."""

    group: str
    name: str
    messages: int
    passed: int
    reasons: tuple[str, ...]
    fix: str | None

    @property
    def failing(self) -> int:
        return self.messages - self.passed

    @property
    def pass_rate(self) -> float | None:
        return rate(self.passed, self.messages)

    def to_dict(self) -> dict[str, Any]:
        return {"service": self.group, "name": self.name, "messages": self.messages, "passed": self.passed,
                "failing": self.failing, "pass_rate": self.pass_rate, "reasons": list(self.reasons), "fix": self.fix}


@dataclass(frozen=True)
class Readiness:
    domain: str
    days: int
    stage: Stage
    target: Stage | None
    messages: int
    passed: int
    approved_messages: int
    approved_passed: int
    services: tuple[ServiceRate, ...]
    blockers: tuple[str, ...]
    blocking_services: tuple[ServiceRate, ...]

    @property
    def pass_rate(self) -> float | None:
        return rate(self.passed, self.messages)

    @property
    def approved_pass_rate(self) -> float | None:
        return rate(self.approved_passed, self.approved_messages)

    @property
    def ready(self) -> bool:
        return self.target is not None and not self.blockers

    def figures(self) -> dict[str, Any]:
        """What a stage change records as its justification."""
        return {"days": self.days, "messages": self.messages, "pass_rate": self.pass_rate,
                "approved_messages": self.approved_messages, "approved_pass_rate": self.approved_pass_rate}

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "days": self.days, "stage": self.stage.value,
                "next_stage": self.target.value if self.target else None, "ready": self.ready,
                **self.figures(), "blockers": list(self.blockers),
                "blocking_services": [s.to_dict() for s in self.blocking_services],
                "services": [s.to_dict() for s in self.services]}


def readiness(domain: str, days: int, stage: Stage, sources: list[AnalysedSource],
              gates: Gates = DEFAULT_GATES) -> Readiness:
    """Pass rates of all mail and of each approved sender; what stops the move to the next stage."""
    target = stage.next()
    services = service_rates([s for s in sources if s.sender_class is SenderClass.APPROVED])
    messages = sum(s.evidence.messages for s in sources)
    passed = sum(s.evidence.dmarc_pass for s in sources)
    approved_messages = sum(s.messages for s in services)
    approved_passed = sum(s.passed for s in services)
    blockers: list[str] = []
    blocking: list[ServiceRate] = []
    if target is None:
        blockers.append(f"{domain} is at {stage.value}, the last stage")
    else:
        threshold = gates.threshold(target)
        approved_rate = rate(approved_passed, approved_messages)
        if approved_messages < gates.min_messages:
            blockers.append(f"only {approved_messages} messages from approved senders in {days} days; "
                            f"at least {gates.min_messages} are needed to judge")
        elif approved_rate is not None and approved_rate < threshold:
            blockers.append(f"{approved_rate:.1f} % of approved senders' mail passes DMARC; "
                            f"{target.value} needs {threshold:.0f} %")
        for service in services:
            if service.failing and (service.pass_rate or 0.0) < threshold:
                blocking.append(service)
                blockers.append(f"{service.name}: {service.failing} of {service.messages} messages fail "
                                f"({'; '.join(service.reasons)})")
    return Readiness(domain, days, stage, target, messages, passed, approved_messages, approved_passed,
                     tuple(services), tuple(blockers), tuple(blocking))


def service_rates(approved: list[AnalysedSource]) -> list[ServiceRate]:
    """One row per approved service (or approved network group), largest first, with why mail fails."""
    groups: dict[str, list[AnalysedSource]] = defaultdict(list)
    for source in approved:
        groups[source.attribution.group].append(source)
    rows = []
    for group, members in groups.items():
        service = members[0].attribution.service
        messages = sum(m.evidence.messages for m in members)
        passed = sum(m.evidence.dmarc_pass for m in members)
        rows.append(ServiceRate(group, service.name if service else group, messages, passed,
                                failure_reasons(members) if passed < messages else (),
                                service.alignment if service and passed < messages else None))
    return sorted(rows, key=lambda r: (-r.messages, r.group))


def failure_reasons(members: list[AnalysedSource]) -> tuple[str, ...]:
    """Why a sender's mail does not pass: SPF not aligned, no DKIM, DKIM by the vendor's own domain."""
    reasons = []
    dkim_aligned = sum(m.evidence.dkim_aligned for m in members)
    spf_aligned = sum(m.evidence.spf_aligned for m in members)
    messages = sum(m.evidence.messages for m in members)
    foreign_dkim = sorted({d for m in members for d in m.evidence.dkim_pass_domains})
    foreign_spf = sorted({d for m in members for d in m.evidence.spf_pass_domains})
    if dkim_aligned < messages:
        reasons.append(f"DKIM by the vendor's own domain ({', '.join(foreign_dkim[:3])}), not aligned"
                       if foreign_dkim else "no aligned DKIM signature")
    if spf_aligned < messages:
        reasons.append(f"SPF passes for {', '.join(foreign_spf[:3])}, not aligned with the From domain"
                       if foreign_spf else "SPF not aligned")
    return tuple(reasons)


# --------------------------------------------------------------------------- what-if


@dataclass(frozen=True)
class Impact:
    """Messages that would be quarantined or rejected under a stage, by class, with the top offenders."""

    stage: Stage
    applied: Policy
    by_class: dict[SenderClass, int]
    top_sources: tuple[tuple[str, str, str, int], ...]  # (ip, group, class, failing messages)
    top_groups: tuple[tuple[str, str, int], ...]  # (group, class, failing messages)
    pct: int | None

    @property
    def collateral(self) -> int:
        """Approved senders' mail that would be lost: the number that must be zero."""
        return self.by_class.get(SenderClass.APPROVED, 0)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage.value, "applied_policy": self.applied.value, "pct": self.pct,
                "collateral_damage": self.collateral,
                "by_class": {c.value: n for c, n in self.by_class.items()},
                "top_sources": [{"ip": ip, "group": g, "class": c, "messages": n} for ip, g, c, n in self.top_sources],
                "top_groups": [{"group": g, "class": c, "messages": n} for g, c, n in self.top_groups]}


def what_if(stage: Stage, sources: list[AnalysedSource], pct: int | None = None, top: int = 10) -> Impact:
    """Replay the window under ``stage``: every message failing DMARC is quarantined or rejected.

    RFC 9989 receivers apply ``stage.applied`` (``t=y`` steps one policy
    down); under ``none`` nothing is affected. With ``pct`` (RFC 7489 §6.3)
    only that share of failing mail is, at receivers that still honour it.
    """
    applied = stage.applied
    share = 0.0 if applied is Policy.NONE else (pct if pct is not None else 100) / 100
    by_class: dict[SenderClass, int] = defaultdict(int)
    groups: dict[tuple[str, str], int] = defaultdict(int)
    per_source = []
    for source in sources:
        failing = round((source.evidence.messages - source.evidence.dmarc_pass) * share)
        if failing <= 0:
            continue
        cls = source.sender_class
        by_class[cls] += failing
        groups[(source.attribution.group, cls.value)] += failing
        per_source.append((source.evidence.ip, source.attribution.group, cls.value, failing))
    per_source.sort(key=lambda row: (-row[3], row[0]))
    ranked = sorted(((g, c, n) for (g, c), n in groups.items()), key=lambda row: (-row[2], row[0]))
    return Impact(stage, applied, dict(by_class), tuple(per_source[:top]), tuple(ranked[:top]), pct)
