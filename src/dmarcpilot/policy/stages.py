"""The road to enforcement: the DMARC policy stages a domain moves through, one at a time.

``none`` → ``quarantine`` with ``t=y`` → ``quarantine`` → ``reject`` with ``t=y``
→ ``reject``. With ``t=y`` (RFC 9989 §4.7, testing) a receiver applies the
next weaker policy: quarantine-testing is treated as ``none``,
reject-testing as ``quarantine``; so each real tightening is announced a
stage ahead. Receivers that still follow RFC 7489 ignore ``t`` and read
``pct`` instead (§6.3: the percentage of failing mail the policy applies
to); the optional ``pct`` ramp covers them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.records.dmarc import DmarcRecord, Policy, ReportUri


class StageError(DmarcpilotError):
    """A stage change that is not allowed."""


class Stage(enum.Enum):
    NONE = "none"
    QUARANTINE_TESTING = "quarantine-testing"
    QUARANTINE = "quarantine"
    REJECT_TESTING = "reject-testing"
    REJECT = "reject"

    @property
    def index(self) -> int:
        return ORDER.index(self)

    @property
    def policy(self) -> Policy:
        """The ``p=`` published at this stage."""
        return {Stage.NONE: Policy.NONE, Stage.QUARANTINE_TESTING: Policy.QUARANTINE,
                Stage.QUARANTINE: Policy.QUARANTINE, Stage.REJECT_TESTING: Policy.REJECT,
                Stage.REJECT: Policy.REJECT}[self]

    @property
    def testing(self) -> bool:
        return self in (Stage.QUARANTINE_TESTING, Stage.REJECT_TESTING)

    @property
    def applied(self) -> Policy:
        """What an RFC 9989 receiver applies to failing mail (``t=y`` steps one policy down, §4.7)."""
        if self is Stage.QUARANTINE_TESTING:
            return Policy.NONE
        if self is Stage.REJECT_TESTING:
            return Policy.QUARANTINE
        return self.policy

    def next(self) -> Stage | None:
        return ORDER[self.index + 1] if self.index + 1 < len(ORDER) else None

    def previous(self) -> Stage | None:
        return ORDER[self.index - 1] if self.index > 0 else None


ORDER = (Stage.NONE, Stage.QUARANTINE_TESTING, Stage.QUARANTINE, Stage.REJECT_TESTING, Stage.REJECT)


@dataclass(frozen=True)
class StagePolicy:
    """The DMARC record of a stage: ``sp`` and ``np`` follow ``p`` unless set (RFC 9989 §4.7)."""

    stage: Stage
    sp: Policy | None = None
    np: Policy | None = None
    pct: int | None = None  # RFC 7489 receivers only; None: not published (100)

    def record(self, rua: tuple[ReportUri, ...] = (), ruf: tuple[ReportUri, ...] = ()) -> DmarcRecord:
        return DmarcRecord(p=self.stage.policy, sp=self.sp, np=self.np, t=True if self.stage.testing else None,
                           pct=self.pct, rua=rua, ruf=ruf)


@dataclass(frozen=True)
class StageChange:
    """One move on the road, with who, when, why and the figures that justified it."""

    domain: str
    stage: Stage
    previous: Stage
    actor: str
    reason: str
    at: datetime
    forced: bool
    figures: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "stage": self.stage.value, "previous": self.previous.value,
                "actor": self.actor, "reason": self.reason, "at": self.at.isoformat(), "forced": self.forced,
                "figures": self.figures}


def check_move(current: Stage, target: Stage) -> None:
    """One stage at a time, up or down (a rollback may go straight back to ``none``)."""
    if target is current:
        raise StageError(f"already at {current.value}")
    following = current.next()
    if target.index > current.index + 1 and following is not None:
        raise StageError(f"from {current.value} the next stage is {following.value}, not {target.value}: "
                         "one stage at a time")
