"""What an SPF check returns: the result (RFC 7208 §2.6), the explanation, and how it got there."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from dmarcpilot.dnsclient import DnsStatus
from dmarcpilot.records.spf import Qualifier


class SpfResult(enum.Enum):
    """RFC 7208 §2.6."""

    PASS = "pass"
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    TEMPERROR = "temperror"
    PERMERROR = "permerror"


# RFC 7208 §4.6.2: the result a matching mechanism's qualifier yields.
QUALIFIER_RESULTS = {
    Qualifier.PASS: SpfResult.PASS,
    Qualifier.FAIL: SpfResult.FAIL,
    Qualifier.SOFTFAIL: SpfResult.SOFTFAIL,
    Qualifier.NEUTRAL: SpfResult.NEUTRAL,
}


@dataclass(frozen=True, slots=True)
class SpfLimits:
    """RFC 7208 §4.6.4 processing limits (the defaults are the RFC's)."""

    dns_terms: int = 10  # include, a, mx, ptr, exists and redirect per check
    void_lookups: int = 2  # terms whose lookup answers NXDOMAIN or no records
    mx_names: int = 10  # MX names per "mx" (more is a permerror)
    ptr_names: int = 10  # PTR names looked at per "ptr" / %{p} (the rest are ignored)
    timeout: float | None = 20.0  # seconds for the whole check ("SHOULD allow at least 20 seconds")


# Trace events are NamedTuples: immutable and typed like the frozen dataclasses, and about three
# times cheaper to create; a check makes dozens of them (measured in benchmarks/spf_bench.py).


class TraceLookup(NamedTuple):
    """One DNS question asked during the check, and its answer."""

    name: str
    rdtype: str
    status: DnsStatus
    records: tuple[str, ...] = ()


class TraceTerm(NamedTuple):
    """One mechanism or ``redirect=`` evaluated in the record of ``domain``."""

    domain: str
    term: str
    matched: bool


TraceEvent = TraceLookup | TraceTerm


@dataclass(frozen=True, slots=True)
class SpfOutcome:
    """The result of one check_host() (RFC 7208 §4) and its evidence.

    ``term`` is the mechanism that decided the result, as written
    canonically, in the record of ``domain`` (redirects followed, includes
    not entered: a pass through ``include:x`` names the include); for a
    permerror or temperror it is the term being evaluated when it happened.
    ``reason`` says why for none, permerror and temperror. ``explanation``
    is the expanded ``exp=`` text of a fail (§6.2), ``None`` when there is
    none. ``lookups`` counts the DNS-querying terms and ``voids`` the void
    lookups (§4.6.4).
    """

    result: SpfResult
    explanation: str | None = None
    term: str | None = None
    domain: str | None = None
    reason: str | None = None
    trace: tuple[TraceEvent, ...] = ()
    lookups: int = 0
    voids: int = 0

    @property
    def lookups_done(self) -> tuple[TraceLookup, ...]:
        return tuple(e for e in self.trace if isinstance(e, TraceLookup))

    @property
    def steps(self) -> tuple[TraceTerm, ...]:
        return tuple(e for e in self.trace if isinstance(e, TraceTerm))
