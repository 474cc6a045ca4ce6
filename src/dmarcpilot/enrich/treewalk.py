"""The DMARC DNS Tree Walk (RFC 9989 section 4.10), with an injected resolver.

RFC 9989 replaces the Public Suffix List by a walk up the DNS: query
``_dmarc.<name>`` TXT for the name and each parent. A name with more than
eight labels is queried, then the walk jumps to its last seven labels, so a
hostile name costs at most eight queries.

Organizational Domain (section 4.10.2): the first record on the way up with
``psd=n`` makes its domain the Organizational Domain; ``psd=y`` makes the
domain one label below it the Organizational Domain; otherwise the domain
with the fewest labels that has a DMARC record is; with no record at all,
the domain itself is.
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.rdatatype
import dns.resolver

MAX_LABELS = 8


@dataclass(frozen=True, slots=True)
class WalkStep:
    domain: str
    record: str | None  # the DMARC record found at _dmarc.<domain>, if any


def walk_names(domain: str) -> list[str]:
    """The names queried, in order (section 4.10.1)."""
    labels = domain.strip().rstrip(".").lower().split(".")
    names = [".".join(labels)]
    if len(labels) > MAX_LABELS:
        labels = labels[-(MAX_LABELS - 1):]
        names.append(".".join(labels))
    while len(labels) > 1:
        labels = labels[1:]
        names.append(".".join(labels))
    return list(dict.fromkeys(names))


def _dmarc_record(texts: list[str]) -> str | None:
    """The one TXT string that starts with v=DMARC1 (section 4.7); several are none."""
    records = [t for t in texts if t.replace(" ", "").lower().startswith("v=dmarc1")]
    return records[0] if len(records) == 1 else None


def _psd(record: str) -> str | None:
    for part in record.split(";"):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "psd":
            return value.strip().lower()
    return None


async def tree_walk(resolver: dns.asyncresolver.Resolver, domain: str, timeout: float = 3.0) -> list[WalkStep]:
    steps = []
    for name in walk_names(domain):
        try:
            answer = await resolver.resolve(f"_dmarc.{name}.", dns.rdatatype.TXT, lifetime=timeout)
            texts = [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            texts = []
        except dns.exception.DNSException:
            texts = []  # a failed query is treated as no record; the caller may retry later
        steps.append(WalkStep(name, _dmarc_record(texts)))
    return steps


def organizational_domain_from_walk(domain: str, steps: list[WalkStep]) -> str:
    """Section 4.10.2 applied to the walk's findings."""
    found = [s for s in steps if s.record is not None]
    for index, step in enumerate(steps):
        if step.record is None:
            continue
        psd = _psd(step.record)
        if psd == "n":
            return step.domain
        if psd == "y":
            below = steps[index - 1].domain if index > 0 else step.domain
            return below
    if found:
        return min(found, key=lambda s: s.domain.count(".")).domain
    return domain.strip().rstrip(".").lower()


async def organizational_domain_dns(resolver: dns.asyncresolver.Resolver, domain: str) -> str:
    return organizational_domain_from_walk(domain, await tree_walk(resolver, domain))
