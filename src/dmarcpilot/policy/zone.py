"""Records dmarcpilot publishes, and an in-memory view of them with authoritative wildcard semantics.

:class:`ZoneClient` answers like an authoritative server for a set of
:class:`ZoneRecord` (RFC 1034 §4.3.2 with RFC 4592 wildcards: a ``*`` label
stands for any name below its parent that does not exist, found through the
closest encloser). The SPF compiler proves its ``exists:`` tree through it;
the DNS server answers from the same records.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from dmarcpilot.dnsclient import NODATA, NXDOMAIN, DnsAnswer, DnsClient, DnsStatus, normalize_name


@dataclass(frozen=True, slots=True, order=True)
class ZoneRecord:
    """One resource record: owner name (lower case, no trailing dot), type, TTL, value.

    ``value`` is presentation text for A/AAAA/CNAME/NS/MX and the unsplit
    string for TXT (split into character-strings only when written out).
    """

    name: str
    rdtype: str
    value: str
    ttl: int = 3600

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", normalize_name(self.name))
        object.__setattr__(self, "rdtype", self.rdtype.upper())


class ZoneClient:
    """A :class:`DnsClient` over records, with RFC 4592 wildcards, falling back to ``base`` outside ``apexes``."""

    def __init__(self, records: list[ZoneRecord] | tuple[ZoneRecord, ...], apexes: tuple[str, ...],
                 base: DnsClient | None = None) -> None:
        self._rrsets: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._names: set[str] = set()
        self.apexes = tuple(normalize_name(a) for a in apexes)
        self.base = base
        for record in records:
            self._rrsets[(record.name, record.rdtype)].append(record.value)
            labels = record.name.split(".")
            self._names.update(".".join(labels[i:]) for i in range(len(labels)))  # the name and its ancestors

    def _apex(self, name: str) -> str | None:
        return next((a for a in self.apexes if name == a or name.endswith("." + a)), None)

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        name, rdtype = normalize_name(name), rdtype.upper()
        apex = self._apex(name)
        if apex is None:
            return await self.base.query(name, rdtype) if self.base is not None else NXDOMAIN
        return self.lookup(name, rdtype, apex)

    def lookup(self, name: str, rdtype: str, apex: str) -> DnsAnswer:
        if name in self._names:  # the name exists (with records, or as an empty non-terminal)
            return self._answer(name, rdtype)
        encloser = name  # RFC 4592 §3.3.1: the closest encloser is the nearest existing ancestor
        while encloser != apex:
            encloser = encloser.split(".", 1)[1]
            if encloser in self._names:
                break
        source = "*." + encloser
        return self._answer(source, rdtype) if source in self._names else NXDOMAIN

    def _answer(self, owner: str, rdtype: str) -> DnsAnswer:
        records = self._rrsets.get((owner, rdtype))
        return DnsAnswer(DnsStatus.OK, tuple(records)) if records else NODATA
