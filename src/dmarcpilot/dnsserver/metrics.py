"""Counters of the DNS server, and a tiny HTTP endpoint serving them in Prometheus text format (0.0.4).

The query path increments one counter per answer, keyed by a label tuple
the cache computed once (rcode, qtype, transport, truncated); everything
per-rcode, per-qtype and per-transport is summed when scraped.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import Counter
from collections.abc import Callable, Iterable

import dns.rcode
import dns.rdatatype

log = logging.getLogger(__name__)

#: (rcode, qtype, transport, truncated)
Label = tuple[int, int, str, bool]

#: Query types counted by name; any other is counted as "other" (the qtype is the client's choice: a label per
#: value would let anyone create 65,536 series)
NAMED_QTYPES = frozenset(int(t) for t in (
    dns.rdatatype.A, dns.rdatatype.NS, dns.rdatatype.CNAME, dns.rdatatype.SOA, dns.rdatatype.PTR, dns.rdatatype.MX,
    dns.rdatatype.TXT, dns.rdatatype.AAAA, dns.rdatatype.SRV, dns.rdatatype.NAPTR, dns.rdatatype.DS,
    dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.DNSKEY, dns.rdatatype.NSEC3, dns.rdatatype.TLSA,
    dns.rdatatype.SVCB, dns.rdatatype.HTTPS, dns.rdatatype.CAA, dns.rdatatype.IXFR, dns.rdatatype.AXFR,
    dns.rdatatype.ANY))
OTHER_QTYPE = 0  # no query type has the number 0 (RFC 6895 §3.1: reserved)


def qtype_label(qtype: int) -> int:
    return qtype if qtype in NAMED_QTYPES else OTHER_QTYPE


class Event(enum.Enum):
    """Things that are not answers."""

    DROPPED = "dropped"  # garbage, responses, and queries too short for a header: no reply (silence)
    ERROR = "error"  # an exception while answering (a bug): logged, the server goes on
    TCP_CONNECTION = "tcp_connection"
    TCP_REJECTED = "tcp_rejected"  # over the connection limit
    TCP_IDLE_CLOSE = "tcp_idle_close"
    TRANSFER_OK = "transfer_ok"
    TRANSFER_REFUSED = "transfer_refused"
    NOTIFY_OK = "notify_ok"
    NOTIFY_FAILED = "notify_failed"
    RELOAD = "reload"  # a recompile of the zones from the store
    RELOAD_ERROR = "reload_error"  # a domain whose zone could not be compiled or built (it kept the old one)


class Metrics:
    def __init__(self) -> None:
        self.answers: Counter[Label] = Counter()
        self.events: Counter[Event] = Counter()
        self.serials: dict[str, int] = {}
        self.gauges: dict[str, Callable[[], float]] = {}

    def count(self, event: Event, n: int = 1) -> None:
        self.events[event] += n

    def total(self, *, rcode: int | None = None, qtype: int | None = None, transport: str | None = None,
              truncated: bool | None = None) -> int:
        """Answers matching every given label (for tests and the startup line)."""
        return sum(n for (rc, qt, tr, tc), n in self.answers.items()
                   if (rcode is None or rc == rcode) and (qtype is None or qt == qtype)
                   and (transport is None or tr == transport) and (truncated is None or tc == truncated))

    def render(self) -> str:
        rcodes: Counter[str] = Counter()
        qtypes: Counter[str] = Counter()
        transports: Counter[str] = Counter()
        truncated = 0
        for (rcode, qtype, transport, tc), n in list(self.answers.items()):
            rcodes[_rcode_text(rcode)] += n
            qtypes["other" if qtype == OTHER_QTYPE else dns.rdatatype.to_text(dns.rdatatype.RdataType.make(qtype))] += n
            transports[transport] += n
            truncated += n if tc else 0
        out: list[str] = []
        _family(out, "responses_total", "counter", "Answers sent, by response code.", "rcode", rcodes.items())
        _family(out, "queries_total", "counter", "Queries answered, by query type.", "qtype", qtypes.items())
        _family(out, "queries_by_transport_total", "counter", "Queries answered, by transport.", "transport",
                transports.items())
        _family(out, "truncated_total", "counter", "UDP answers sent truncated (TC=1).", None, [("", truncated)])
        _family(out, "events_total", "counter", "Other events (drops, errors, TCP, transfers, NOTIFY, reloads).",
                "event", [(e.value, self.events[e]) for e in Event])
        _family(out, "zone_serial", "gauge", "SOA serial of each zone served.", "zone", self.serials.items())
        for name, read in sorted(self.gauges.items()):
            _family(out, name, "gauge", name.replace("_", " ").capitalize() + ".", None, [("", read())])
        return "".join(out)


def _rcode_text(rcode: int) -> str:
    try:
        return dns.rcode.to_text(dns.rcode.Rcode.make(rcode))
    except ValueError:
        return str(rcode)


def _family(out: list[str], name: str, kind: str, help_text: str, label: str | None,
            values: Iterable[tuple[str, float]]) -> None:
    metric = f"dmarcpilot_dns_{name}"
    out.append(f"# HELP {metric} {help_text}\n# TYPE {metric} {kind}\n")
    for value_label, value in sorted(values):
        labels = f'{{{label}="{_escape(value_label)}"}}' if label else ""
        out.append(f"{metric}{labels} {value}\n")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# ---------------------------------------------------------------------------- HTTP

MAX_REQUEST = 8192
REQUEST_TIMEOUT = 5.0


async def serve_metrics(metrics: Metrics, host: str, port: int) -> asyncio.Server:
    """``GET /metrics`` on ``host:port``; anything else is 404 or 405. One request per connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
            method, _, rest = head.partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method not in (b"GET", b"HEAD"):
                status, body = "405 Method Not Allowed", "GET only\n"
            elif path != b"/metrics":
                status, body = "404 Not Found", "see /metrics\n"
            else:
                status, body = "200 OK", metrics.render()
            payload = body.encode()
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
                         f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode())
            if method != b"HEAD":
                writer.write(payload)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    return await asyncio.start_server(handle, host, port, limit=MAX_REQUEST)
