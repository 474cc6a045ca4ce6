"""The built-in authoritative DNS server: the hosted zones, over UDP and TCP, with AXFR and NOTIFY.

``authority``  immutable zones from :class:`~dmarcpilot.policy.zone.ZoneRecord` (RFC 1034 §4.3.2, RFC 4592)
``wire``       the query fast path: parsing, cache keys, encoded answers
``responder``  one query in, the reply's bytes out (cache of encoded answers, errors as rcodes)
``transfer``   AXFR/IXFR out (RFC 5936, RFC 1995) behind address and TSIG checks; NOTIFY (RFC 1996)
``transport``  asyncio UDP and TCP (RFC 7766) endpoints
``metrics``    counters and their Prometheus text endpoint
``loader``     zones compiled from the store, reloaded while serving
``server``     the process: listeners, reloads, signals, shutdown

The server never compiles policy itself beyond calling the compiler
(:func:`dmarcpilot.policy.publisher.publication`) and never recurses.
"""

from dmarcpilot.dnsserver.authority import Authority, Resolution, Zone, ZoneError

__all__ = ["Authority", "Resolution", "Zone", "ZoneError"]
