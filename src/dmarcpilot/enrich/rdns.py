"""Reverse DNS of source addresses: bulk, asynchronous, forward-confirmed.

A PTR name is evidence of who operates an address only when the name
resolves back to it (forward-confirmed reverse DNS, the ``iprev`` check of
RFC 8601 section 3). Lookups run concurrently under a bound, each with a
timeout; failures are results too (negative caching), so a dead reverse zone
is not asked again before its entry expires. The resolver is injected
(DESIGN.md convention 2): tests use a DNS server on loopback.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import dns.reversename

from dmarcpilot.reports.model import IPAddress


class PtrStatus(enum.Enum):
    OK = "ok"  # a PTR name (confirmed or not)
    NXDOMAIN = "nxdomain"  # no reverse name
    NODATA = "nodata"  # the name exists, no PTR
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"  # the reverse zone's servers failed


@dataclass(frozen=True, slots=True)
class PtrResult:
    ip: IPAddress
    status: PtrStatus
    name: str | None = None  # lower case, no trailing dot
    confirmed: bool = False  # the name resolves back to ``ip``


@dataclass(frozen=True, slots=True)
class RdnsSettings:
    concurrency: int = 64
    timeout: float = 3.0  # seconds per query (PTR, then A/AAAA)


DEFAULT_SETTINGS = RdnsSettings()


async def _query(resolver: dns.asyncresolver.Resolver, name: dns.name.Name | str, rdtype: dns.rdatatype.RdataType,
                 timeout: float) -> list[str]:
    answer = await resolver.resolve(name, rdtype, lifetime=timeout, raise_on_no_answer=True)
    return sorted(rdata.to_text() for rdata in answer)


async def reverse_lookup(resolver: dns.asyncresolver.Resolver, ip: IPAddress,
                         settings: RdnsSettings = DEFAULT_SETTINGS) -> PtrResult:
    """PTR of ``ip`` and its forward confirmation; errors become statuses."""
    try:
        names = await _query(resolver, dns.reversename.from_address(str(ip)), dns.rdatatype.PTR, settings.timeout)
    except dns.resolver.NXDOMAIN:
        return PtrResult(ip, PtrStatus.NXDOMAIN)
    except dns.resolver.NoAnswer:
        return PtrResult(ip, PtrStatus.NODATA)
    except dns.exception.Timeout:
        return PtrResult(ip, PtrStatus.TIMEOUT)
    except dns.exception.DNSException:
        return PtrResult(ip, PtrStatus.SERVFAIL)
    # With several PTR names, the first (sorted) that confirms wins.
    for text in names:
        name = text.rstrip(".").lower()
        if await _confirms(resolver, name, ip, settings):
            return PtrResult(ip, PtrStatus.OK, name, True)
    return PtrResult(ip, PtrStatus.OK, names[0].rstrip(".").lower() if names else None, False)


async def _confirms(resolver: dns.asyncresolver.Resolver, name: str, ip: IPAddress, settings: RdnsSettings) -> bool:
    rdtype = dns.rdatatype.A if ip.version == 4 else dns.rdatatype.AAAA
    try:
        addresses = await _query(resolver, name + ".", rdtype, settings.timeout)
    except dns.exception.DNSException:
        return False
    return any(ipaddress.ip_address(a) == ip for a in addresses)


async def bulk_reverse(resolver: dns.asyncresolver.Resolver, ips: Iterable[IPAddress],
                       settings: RdnsSettings = DEFAULT_SETTINGS) -> list[PtrResult]:
    """Reverse lookups of many addresses, at most ``settings.concurrency`` at once."""
    gate = asyncio.Semaphore(settings.concurrency)

    async def one(ip: IPAddress) -> PtrResult:
        async with gate:
            return await reverse_lookup(resolver, ip, settings)

    return list(await asyncio.gather(*(one(ip) for ip in ips)))


def make_resolver(nameservers: list[str] | None = None, port: int = 53) -> dns.asyncresolver.Resolver:
    """The system's resolver, or the given servers (``host`` or ``host:port``)."""
    if not nameservers:
        return dns.asyncresolver.Resolver()
    resolver = dns.asyncresolver.Resolver(configure=False)
    hosts = []
    for server in nameservers:
        host, _, server_port = server.rpartition(":") if server.count(":") == 1 else (server, "", "")
        hosts.append(host)
        if server_port:
            port = int(server_port)
    resolver.nameservers = hosts
    resolver.port = port
    return resolver
