"""The DNS seen by dmarcpilot's evaluators: one small injected interface (DESIGN.md convention 2).

Everything that needs DNS answers (the SPF evaluator, the policy compiler,
the verifier) asks a :class:`DnsClient` for ``(name, rdtype)`` and gets a
:class:`DnsAnswer`: a status and the records as text. Nothing above this
module sees dnspython's exceptions or rdata classes.

* :class:`ResolverClient` asks real DNS through ``dns.asyncresolver``;
* :class:`StaticDnsClient` answers from an in-memory zone (tests, benchmarks,
  "what would this record do" evaluations), telling NXDOMAIN from NODATA
  and recording every question;
* :class:`LayeredDnsClient` puts a static zone in front of another client,
  so a compiler can evaluate candidate records over the live DNS.

Record text per rdtype: TXT is each record's character-strings joined with
no separator (RFC 7208 §3.3), decoded as UTF-8 with undecodable bytes
replaced (so non-ASCII content stays non-ASCII and is rejected where ASCII is
required); A/AAAA the address; MX ``"PREFERENCE EXCHANGE."``; PTR and CNAME
the target with its trailing dot; other types dnspython's presentation form.
CNAME chains are followed by the client.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.resolver


class DnsStatus(enum.Enum):
    OK = "ok"  # RCODE 0 with at least one record of the type asked
    NXDOMAIN = "nxdomain"  # RCODE 3: the name does not exist
    NODATA = "nodata"  # RCODE 0, the name exists, no record of the type
    TIMEOUT = "timeout"  # no answer in time
    SERVFAIL = "servfail"  # any other failure (RCODE 2, refused, no usable server, CNAME loop)


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    status: DnsStatus
    records: tuple[str, ...] = ()

    @property
    def void(self) -> bool:
        """NXDOMAIN or NODATA: a "void lookup" in RFC 7208 §4.6.4's sense."""
        return self.status is DnsStatus.NXDOMAIN or self.status is DnsStatus.NODATA


NXDOMAIN = DnsAnswer(DnsStatus.NXDOMAIN)
NODATA = DnsAnswer(DnsStatus.NODATA)
TIMEOUT = DnsAnswer(DnsStatus.TIMEOUT)
SERVFAIL = DnsAnswer(DnsStatus.SERVFAIL)


class DnsClient(Protocol):
    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        """Answer ``rdtype`` (``"TXT"``, ``"A"``, ...) for ``name`` (trailing dot optional)."""
        ...


def normalize_name(name: str) -> str:
    """Lower case, no trailing dot: how names are compared here (RFC 4343 case-insensitivity)."""
    name = name.lower()
    return name[:-1] if name.endswith(".") and name != "." else name


# --------------------------------------------------------------------------- real DNS


def _rdata_text(rdata: dns.rdata.Rdata) -> str:
    rdtype = rdata.rdtype
    if rdtype == dns.rdatatype.TXT:
        # RFC 7208 §3.3: the character-strings of one record are concatenated with no separator.
        return b"".join(rdata.strings).decode("utf-8", "replace")  # type: ignore[attr-defined]
    if rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return str(rdata.address)  # type: ignore[attr-defined]
    if rdtype == dns.rdatatype.MX:
        return f"{rdata.preference} {rdata.exchange.to_text()}"  # type: ignore[attr-defined]
    return rdata.to_text()


class ResolverClient:
    """A :class:`DnsClient` over an injected ``dns.asyncresolver.Resolver``.

    ``lifetime`` bounds each query (seconds, all retries included). CNAMEs are
    followed by the resolver; the search list is never applied.
    """

    def __init__(self, resolver: dns.asyncresolver.Resolver, *, lifetime: float = 5.0) -> None:
        self.resolver = resolver
        self.lifetime = lifetime

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        try:
            answer = await self.resolver.resolve(name, rdtype, lifetime=self.lifetime, search=False,
                                                 raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return NXDOMAIN
        except dns.resolver.NoAnswer:
            return NODATA
        except dns.exception.Timeout:
            return TIMEOUT
        except (dns.name.EmptyLabel, dns.name.LabelTooLong, dns.name.NameTooLong):
            return NXDOMAIN  # a name that cannot be written on the wire cannot exist
        except dns.exception.DNSException:
            return SERVFAIL
        if answer.rrset is None:
            return NODATA
        return DnsAnswer(DnsStatus.OK, tuple(_rdata_text(rdata) for rdata in answer.rrset))


# --------------------------------------------------------------------------- in-memory zone

_MAX_CNAME_CHAIN = 16


class StaticDnsClient:
    """An in-memory zone: ``{(name, rdtype): [record text, ...]}``.

    Names compare case-insensitively with the trailing dot optional. A name
    with no record of any type is NXDOMAIN unless it is an empty non-terminal
    (an ancestor of a name that has records), then NODATA, like a real
    authoritative server. ``timeouts`` holds ``(name, rdtype)`` pairs that
    time out, or bare names: then every question about a type the name has no
    records of times out (records it has are still answered); ``servfail``
    likewise for SERVFAIL. A ``CNAME`` record is followed for other types (RFC 1034
    §3.6.2); a loop answers SERVFAIL. Every question is counted in
    :attr:`queries` as ``(normalized name, rdtype)``.
    """

    def __init__(self, records: Mapping[tuple[str, str], Sequence[str]] | None = None, *,
                 timeouts: Iterable[str | tuple[str, str]] = (),
                 servfail: Iterable[str | tuple[str, str]] = ()) -> None:
        self._answers: dict[tuple[str, str], DnsAnswer] = {}
        self._names: set[str] = set()  # names holding records (or failures)
        self._ancestors: set[str] = set()  # empty non-terminals and names above them
        self._failures: dict[tuple[str, str], DnsAnswer] = {}
        self._failing_names: dict[str, DnsAnswer] = {}
        self.queries: Counter[tuple[str, str]] = Counter()
        for (name, rdtype), values in (records or {}).items():
            self.add(name, rdtype, *values)
        for entry in timeouts:
            self._add_failure(entry, TIMEOUT)
        for entry in servfail:
            self._add_failure(entry, SERVFAIL)

    def add(self, name: str, rdtype: str, *values: str) -> None:
        """Add records (an existing rrset grows); ``add(name, rdtype)`` with no value makes the name exist."""
        key = (normalize_name(name), rdtype.upper())
        old = self._answers.get(key)
        records = (old.records if old else ()) + tuple(values)
        if records:
            self._answers[key] = DnsAnswer(DnsStatus.OK, records)
        self._register(key[0])

    def _add_failure(self, entry: str | tuple[str, str], answer: DnsAnswer) -> None:
        if isinstance(entry, str):
            self._failing_names[normalize_name(entry)] = answer
        else:
            self._failures[(normalize_name(entry[0]), entry[1].upper())] = answer

    def _register(self, name: str) -> None:
        self._names.add(name)
        labels = name.split(".")
        for i in range(1, len(labels)):
            self._ancestors.add(".".join(labels[i:]))

    def holds(self, name: str, rdtype: str) -> bool:
        """Whether this zone has records (or a configured failure) for exactly ``(name, rdtype)``."""
        key = (normalize_name(name), rdtype.upper())
        return key in self._answers or key in self._failures or key[0] in self._failing_names

    def overlay(self, base: DnsClient) -> LayeredDnsClient:
        """This zone in front of ``base``: see :class:`LayeredDnsClient`."""
        return LayeredDnsClient(self, base)

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        return self.lookup(name, rdtype)

    def lookup(self, name: str, rdtype: str) -> DnsAnswer:
        """The synchronous answer (what :meth:`query` returns)."""
        key = (normalize_name(name), rdtype.upper())
        self.queries[key] += 1
        for _ in range(_MAX_CNAME_CHAIN):
            answer = self._failures.get(key) or self._answers.get(key) or self._failing_names.get(key[0])
            if answer is not None:
                return answer
            if key[1] != "CNAME":
                alias = self._answers.get((key[0], "CNAME"))
                if alias is not None:
                    key = (normalize_name(alias.records[0]), key[1])
                    continue
            if key[0] in self._names or key[0] in self._ancestors:
                return NODATA
            return NXDOMAIN
        return SERVFAIL  # CNAME chain too long or a loop


class LayeredDnsClient:
    """Answers from ``top`` for the ``(name, rdtype)`` pairs it holds, from ``base`` otherwise.

    Per record set, not per name: overlaying a candidate TXT record at
    ``example.com`` still lets ``a``/``mx`` mechanisms see the live A and MX
    records of ``example.com``.
    """

    def __init__(self, top: StaticDnsClient, base: DnsClient) -> None:
        self.top = top
        self.base = base

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        if self.top.holds(name, rdtype):
            return self.top.lookup(name, rdtype)
        return await self.base.query(name, rdtype)
