"""A small authoritative DNS server on loopback for tests (dnspython wire format).

Answers from a dict of records; tells NXDOMAIN (no records at all for the
name) from NODATA; names in ``silent`` get no answer (timeouts); names in
``servfail`` get SERVFAIL. Counts the queries it receives.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset


@dataclass
class FakeZone:
    records: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (name, type) -> rdata texts
    silent: set[str] = field(default_factory=set)
    servfail: set[str] = field(default_factory=set)
    queries: Counter[tuple[str, str]] = field(default_factory=Counter)
    ttl: int = 300

    def add(self, name: str, rdtype: str, *values: str) -> None:
        self.records.setdefault((name.lower().rstrip(".") + ".", rdtype), []).extend(values)

    def answer(self, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries[(name, rdtype)] += 1
        if name in self.silent:
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name in self.servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif (name, rdtype) in self.records:
            response.answer.append(dns.rrset.from_text_list(question.name, self.ttl, "IN", rdtype,
                                                            self.records[(name, rdtype)]))
        elif not any(n == name for n, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, zone: FakeZone) -> None:
        self.zone = zone

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.zone.answer(data)
        if reply is not None:
            self.transport.sendto(reply, addr)  # type: ignore[attr-defined]


@contextmanager
def serve(zone: FakeZone) -> Iterator[int]:
    """Run the zone on 127.0.0.1 (UDP) in a thread; yields the port."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, object] = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        transport, _ = loop.run_until_complete(
            loop.create_datagram_endpoint(lambda: _Protocol(zone), local_addr=("127.0.0.1", 0)))
        holder["transport"] = transport
        ready.set()
        loop.run_forever()
        transport.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(10)
    port = holder["transport"].get_extra_info("sockname")[1]  # type: ignore[attr-defined]
    try:
        yield int(port)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
