"""Approvals: a person approves or rejects a sending service, or a network, for a domain.

Values only; the registry and its append-only audit log live in
``store.approvals``.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dmarcpilot.errors import DmarcpilotError

_SERVICE = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,79}$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class ApprovalError(DmarcpilotError):
    """An approval that cannot be recorded (bad domain, subject or reason)."""


class Decision(enum.Enum):
    APPROVED = "approved"
    REJECTED = "rejected"


class SubjectKind(enum.Enum):
    SERVICE = "service"  # a catalogue service id, e.g. "microsoft-365"
    NETWORK = "network"  # an address range, e.g. 192.0.2.0/24 or 2001:db8::/48
    SETTINGS = "settings"  # the domain's publishing settings (audit entries only, never a decision)


@dataclass(frozen=True, slots=True)
class Subject:
    kind: SubjectKind
    value: str

    @classmethod
    def from_text(cls, text: str) -> Subject:
        """A CIDR or a bare address (a /32 or /128) is a network; anything else a service id."""
        raw = text.strip()
        if "/" in raw or _looks_like_ip(raw):
            try:
                network = ipaddress.ip_network(raw, strict=True)
            except ValueError as exc:
                raise ApprovalError(f"invalid network {raw!r}: {exc}") from None
            return cls(SubjectKind.NETWORK, network.compressed)
        name = raw.lower()
        if not _SERVICE.match(name):
            raise ApprovalError(f"invalid service id {raw!r}: use letters, digits, '.', '-', '_' or '+'")
        return cls(SubjectKind.SERVICE, name)

    def to_text(self) -> str:
        return self.value


def _looks_like_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def normalise_domain(text: str) -> str:
    """A domain name in lower case without the root dot (RFC 1035 label rules)."""
    name = text.strip().rstrip(".").lower()
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise ApprovalError(f"invalid domain {text!r}")
    return name


@dataclass(frozen=True, slots=True)
class Approval:
    domain: str
    subject: Subject
    decision: Decision
    actor: str
    reason: str
    decided_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain, "kind": self.subject.kind.value, "subject": self.subject.value,
            "decision": self.decision.value, "actor": self.actor, "reason": self.reason,
            "decided_at": self.decided_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    domain: str
    action: str
    subject: Subject
    reason: str
    previous: Decision | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "at": self.at.isoformat(), "actor": self.actor, "domain": self.domain,
            "action": self.action, "kind": self.subject.kind.value, "subject": self.subject.value,
            "reason": self.reason, "previous": None if self.previous is None else self.previous.value,
        }


def check_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if len(text) < 3:
        raise ApprovalError("a reason is required (at least 3 characters)")
    if len(text) > 2000:
        raise ApprovalError("the reason is longer than 2000 characters")
    return text
