"""The state of one check_host() run: its inputs, DNS access with limits and trace, PTR validation."""

from __future__ import annotations

import functools
import ipaddress
import time

from dmarcpilot.dnsclient import DnsAnswer, DnsClient, DnsStatus, normalize_name
from dmarcpilot.spf.result import SpfLimits, SpfResult, TraceEvent, TraceLookup

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SpfAbort(Exception):  # control flow inside the evaluator; never leaves the package
    """Ends the check with a permerror or temperror (or none for the top domain)."""

    def __init__(self, result: SpfResult, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


def permerror(reason: str) -> SpfAbort:
    return SpfAbort(SpfResult.PERMERROR, reason)


def temperror(reason: str) -> SpfAbort:
    return SpfAbort(SpfResult.TEMPERROR, reason)


@functools.lru_cache(maxsize=8192)
def address_int(text: str, v6: bool) -> int | None:
    """An address record's text as an integer, ``None`` when it is not an address of that family."""
    try:
        address = ipaddress.IPv6Address(text) if v6 else ipaddress.IPv4Address(text)
    except ValueError:
        return None
    return int(address)


class CheckContext:
    """Inputs and running counters of one check; every DNS question goes through here."""

    __slots__ = ("_ptr_names", "_ptr_void", "client", "current_domain", "current_term", "deadline", "helo", "ip",
                 "ip_int", "limits", "local_part", "lookups", "receiver", "sender", "sender_domain", "trace", "v6",
                 "voids")

    def __init__(self, client: DnsClient, limits: SpfLimits, ip: IPAddress, sender: str, helo: str | None,
                 receiver: str) -> None:
        # RFC 7208 §5: an IPv4-mapped IPv6 address "MUST still be considered an IPv4 address".
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        self.client = client
        self.limits = limits
        self.ip: IPAddress = ip
        self.v6 = ip.version == 6
        self.ip_int = int(ip)
        local, at, domain = sender.rpartition("@")
        if not at:
            local, domain = "", sender
        # RFC 7208 §4.3: "If the <sender> has no local-part, substitute the string "postmaster""
        self.local_part = local or "postmaster"
        self.sender_domain = domain
        self.sender = f"{self.local_part}@{domain}"
        self.helo = helo if helo is not None else "unknown"
        self.receiver = receiver
        self.lookups = 0
        self.voids = 0
        self.trace: list[TraceEvent] = []
        self.current_term: str | None = None
        self.current_domain: str | None = None
        self._ptr_names: list[str] | None = None
        self._ptr_void = False
        self.deadline = None if limits.timeout is None else time.monotonic() + limits.timeout

    @property
    def address_rdtype(self) -> str:
        """RFC 7208 §5: A records for an IPv4 <ip>, AAAA for IPv6."""
        return "AAAA" if self.v6 else "A"

    # ------------------------------------------------------------------ DNS

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        """Ask, and record the question and answer in the trace.

        RFC 7208 §4.6.4: "MTAs or other processors SHOULD impose a limit on the
        maximum amount of elapsed time to evaluate check_host()" (at least 20 s).
        The deadline is checked before each question; each question is bounded
        by the client's own lifetime (``ResolverClient(lifetime=...)``), which
        costs far less than a cancellation scope around every check.
        """
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise temperror(f"no result within {self.limits.timeout} s (RFC 7208 §4.6.4)")
        answer = await self.client.query(name, rdtype)
        self.trace.append(TraceLookup(name, rdtype, answer.status, answer.records))
        return answer

    async def query_term(self, name: str, rdtype: str, *, void_counts: bool = True) -> DnsAnswer:
        """A mechanism's lookup (RFC 7208 §5): errors are a temperror, NXDOMAIN is "no records".

        With ``void_counts`` a void answer counts against the limit of 2
        (§4.6.4): the term's own lookup of a name the record names. A
        term counts at most once since each makes one such lookup.
        """
        answer = await self.query(name, rdtype)
        status = answer.status
        if status is DnsStatus.OK:
            return answer
        if status is DnsStatus.NXDOMAIN or status is DnsStatus.NODATA:
            if void_counts:
                self.voids += 1
                if self.voids > self.limits.void_lookups:
                    raise permerror(f"more than {self.limits.void_lookups} void lookups (RFC 7208 §4.6.4)")
            return answer
        raise temperror(f"{rdtype} lookup of {name}: {status.value} (RFC 7208 §5)")

    def count_lookup(self) -> None:
        """One more DNS-querying term (include, a, mx, ptr, exists, redirect; RFC 7208 §4.6.4)."""
        self.lookups += 1
        if self.lookups > self.limits.dns_terms:
            raise permerror(f"more than {self.limits.dns_terms} DNS-querying terms (RFC 7208 §4.6.4)")

    # ------------------------------------------------------------------ PTR (§5.5)

    def reverse_name(self) -> str:
        if self.v6:
            return ".".join(reversed(f"{self.ip_int:032x}")) + ".ip6.arpa"
        return ".".join(reversed(str(self.ip).split("."))) + ".in-addr.arpa"

    async def ptr_names(self) -> list[str]:
        """The first 10 PTR names of <ip> (RFC 7208 §4.6.4), lower case; [] on any DNS error (§5.5)."""
        if self._ptr_names is None:
            answer = await self.query(self.reverse_name(), "PTR")
            names = answer.records[: self.limits.ptr_names] if answer.status is DnsStatus.OK else ()
            self._ptr_names = [normalize_name(n) for n in names]
            self._ptr_void = answer.void
        return self._ptr_names

    async def ptr_mechanism_names(self) -> list[str]:
        """The PTR names for the ``ptr`` mechanism: a void PTR answer counts against the limit of 2.

        RFC 7208 §4.6.4 limits terms whose lookups come back empty; the
        ``ptr`` mechanism's lookup is one (Mail::SPF and pyspf count it too,
        so a record evaluates the same here as at those receivers).
        """
        names = await self.ptr_names()
        if self._ptr_void:
            self.voids += 1
            if self.voids > self.limits.void_lookups:
                raise permerror(f"more than {self.limits.void_lookups} void lookups (RFC 7208 §4.6.4)")
        return names

    async def validates(self, name: str) -> bool:
        """Whether ``name``'s A/AAAA records include <ip>; a DNS error skips the name (RFC 7208 §5.5)."""
        answer = await self.query(name, self.address_rdtype)
        if answer.status is not DnsStatus.OK:
            return False
        return any(address_int(text, self.v6) == self.ip_int for text in answer.records)

    async def validated_name(self, domain: str, *, subdomains_only: bool = False,
                             names: list[str] | None = None) -> str | None:
        """A validated PTR name of <ip> (RFC 7208 §5.5 and §7.3's preference for the %{p} macro).

        Tried in order: ``domain`` itself, its subdomains, then (unless
        ``subdomains_only``, the ``ptr`` mechanism's case) any other name;
        the first that validates wins.
        """
        domain = normalize_name(domain)
        suffix = "." + domain
        if names is None:
            names = await self.ptr_names()
        ordered = [n for n in names if n == domain] + [n for n in names if n.endswith(suffix)]
        if not subdomains_only:
            ordered += [n for n in names if n != domain and not n.endswith(suffix)]
        for name in ordered:
            if await self.validates(name):
                return name
        return None
