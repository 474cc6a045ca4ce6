"""A loopback authoritative DNS server over compiled zone records, for real SPF clients in tests.

Names at or below one of ``apexes`` are answered from a
:class:`~dmarcpilot.policy.zone.ZoneClient` over the zone's records, as the
zone's authoritative server would: AA bit, RFC 4592 wildcard synthesis (the
answer carries the queried name), NXDOMAIN and NODATA with the apex SOA in
the authority section (RFC 2308 §2.1, §2.2) when the records have one.
Every other name is answered from ``world``, any
:class:`~dmarcpilot.dnsclient.DnsClient` (usually a ``StaticDnsClient``
holding the vendors' records): TIMEOUT answers are dropped, SERVFAIL is
SERVFAIL; without a world they are REFUSED.

UDP and TCP on the same port of 127.0.0.1. Over UDP an answer larger than
the client's limit (512 octets without EDNS, RFC 1035 §4.2.1; the EDNS
payload size otherwise, RFC 6891 §6.2.5) is sent empty with TC set, so the
client retries over TCP (RFC 7766). Wire format is dnspython's; the loop
runs in a thread (like ``tests/dnsfake.py``), so synchronous tests and
subprocesses can use it::

    server = ZoneServer(compiled.zone, ("_dmarcpilot.example.edu",), world)
    with serve(server) as port:
        subprocess.run(["kdig", "@127.0.0.1", "-p", str(port), ...])

Every question is counted in :attr:`ZoneServer.queries` as
``(name, rdtype, transport)``; exceptions raised while answering are kept
in :attr:`ZoneServer.errors` (a test should assert there are none).
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator
from contextlib import contextmanager

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from dmarcpilot.dnsclient import DnsAnswer, DnsClient, DnsStatus, normalize_name
from dmarcpilot.policy.zone import ZoneClient, ZoneRecord

UDP_LIMIT = 512  # RFC 1035 §4.2.1, without EDNS
OUR_PAYLOAD = 1232  # the EDNS payload size we advertise (DNS flag day 2020)
TCP_LIMIT = 65535


class ZoneServer:
    """Answers DNS messages: the hosted zone from its records, the rest from ``world``."""

    def __init__(self, records: Iterable[ZoneRecord], apexes: Iterable[str], world: DnsClient | None = None,
                 *, ttl: int = 300) -> None:
        records = tuple(records)
        self.apexes = tuple(normalize_name(a) for a in apexes)
        self.zone = ZoneClient(records, self.apexes)
        self.world = world
        self.ttl = ttl
        self.queries: Counter[tuple[str, str, str]] = Counter()
        self.errors: list[BaseException] = []
        self._soa = {r.name: r for r in records if r.rdtype == "SOA"}
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # UDP answers in flight
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[None]] = {}

    # ----------------------------------------------------------------- answering

    async def answer(self, wire: bytes, transport: str = "udp") -> bytes | None:
        """The reply to one query message, or ``None`` to stay silent (unparseable query, world timeout)."""
        try:
            return await self._answer(wire, transport)
        except Exception as exc:  # a bug in the test server: remember it, answer SERVFAIL if possible
            self.errors.append(exc)
            try:
                query = dns.message.from_wire(wire)
            except dns.exception.DNSException:
                return None
            failure = dns.message.make_response(query)
            failure.set_rcode(dns.rcode.SERVFAIL)
            return failure.to_wire()

    async def _answer(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD)
        response.flags &= ~dns.flags.RA  # authoritative only, no recursion
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response.to_wire()
        if len(query.question) != 1 or query.question[0].rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.FORMERR if len(query.question) != 1 else dns.rcode.REFUSED)
            return response.to_wire()
        question = query.question[0]
        name = normalize_name(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries[(name, rdtype, transport)] += 1
        apex = next((a for a in self.apexes if name == a or name.endswith("." + a)), None)
        if apex is not None:
            result = self.zone.lookup(name, rdtype, apex)
        elif self.world is not None:
            result = await self.world.query(name, rdtype)
        else:
            response.set_rcode(dns.rcode.REFUSED)
            return response.to_wire()
        if result.status is DnsStatus.TIMEOUT:
            return None
        response.flags |= dns.flags.AA
        self._fill(response, question.name, question.rdtype, result, apex)
        limit = TCP_LIMIT if transport == "tcp" else max(UDP_LIMIT, query.payload) if query.edns >= 0 else UDP_LIMIT
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:  # RFC 2181 §9: nothing partial, the client retries over TCP
            response.answer.clear()
            response.authority.clear()
            response.additional.clear()
            response.flags |= dns.flags.TC
            return response.to_wire(max_size=limit)

    def _fill(self, response: dns.message.Message, qname: dns.name.Name, rdtype: dns.rdatatype.RdataType,
              result: DnsAnswer, apex: str | None) -> None:
        if result.status is DnsStatus.OK:
            response.answer.append(self._rrset(qname, rdtype, result.records))
            return
        if result.status is DnsStatus.SERVFAIL:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.SERVFAIL)
            return
        if result.status is DnsStatus.NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        soa = self._soa.get(apex) if apex is not None else None
        if soa is not None:  # RFC 2308 §3: the SOA of the zone, for negative caching
            response.authority.append(self._rrset(dns.name.from_text(soa.name), dns.rdatatype.SOA, (soa.value,)))

    def _rrset(self, owner: dns.name.Name, rdtype: dns.rdatatype.RdataType, values: Iterable[str]) -> dns.rrset.RRset:
        rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, rdtype)
        for value in values:
            rrset.add(_rdata(rdtype, value), self.ttl)
        return rrset

    # ----------------------------------------------------------------- transports

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on UDP and TCP ``port`` of ``host`` (0: the same free port for both); returns the port."""
        loop = asyncio.get_running_loop()
        for _attempt in range(50):
            udp, _ = await loop.create_datagram_endpoint(lambda: _Datagram(self), local_addr=(host, port))
            chosen = int(udp.get_extra_info("sockname")[1])
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, host, chosen)
            except OSError as exc:
                udp.close()
                if port or exc.errno != errno.EADDRINUSE:
                    raise
                continue  # the TCP side of this ephemeral port is taken: another one
            self._udp = udp
            return chosen
        raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

    async def stop(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in list(self._tasks):
            task.cancel()
        connections = list(self._connections.items())
        for writer, _task in connections:
            writer.close()  # the handler sees the end of the stream and returns
        await asyncio.gather(*self._tasks, *(task for _w, task in connections), return_exceptions=True)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reply_udp(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.answer(data, "udp")
        if reply is not None and self._udp is not None:
            self._udp.sendto(reply, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections[writer] = task
        try:
            while True:  # RFC 7766 §6.2.1: several queries may share a connection
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = await self.answer(await reader.readexactly(size), "tcp")
                if reply is not None:
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._connections.pop(writer, None)


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, server: ZoneServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.server._spawn(self.server._reply_udp(data, addr))


def _rdata(rdtype: dns.rdatatype.RdataType, value: str) -> dns.rdata.Rdata:
    """Record text as :class:`~dmarcpilot.dnsclient.DnsAnswer` and :class:`ZoneRecord` hold it, as rdata."""
    if rdtype == dns.rdatatype.TXT:  # the unsplit string: character-strings of at most 255 octets (RFC 7208 §3.3)
        raw = value.encode()
        chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
        return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, chunks)
    return dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False)


@contextmanager
def serve(server: ZoneServer, port: int = 0) -> Iterator[int]:
    """Run ``server`` on 127.0.0.1 (UDP and TCP) in a thread of its own; yields the port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="zoneserver", daemon=True)
    thread.start()
    try:
        bound = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1", port), loop).result(10)
        try:
            yield bound
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
