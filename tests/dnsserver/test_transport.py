"""TCP in process (RFC 7766): pipelined queries answered in order, idle and trickling clients closed, a limit."""

from __future__ import annotations

import asyncio
import struct

import dns.message
import dns.rcode

from dmarcpilot.dnsserver.authority import Zone
from dmarcpilot.dnsserver.config import ServerConfig
from dmarcpilot.dnsserver.metrics import Event
from dmarcpilot.dnsserver.server import DnsServer
from dmarcpilot.dnsserver.transport import Endpoint
from tests.dnsserver.test_responder import HZ, RECORDS


async def _started(**options: object) -> tuple[DnsServer, int]:
    config = ServerConfig(listen=(Endpoint("127.0.0.1", 0),), reload_interval=3600, **options)  # type: ignore[arg-type]
    server = DnsServer(config, zones=(Zone.from_records(HZ, RECORDS),))
    endpoints = await server.start()
    return server, endpoints[0].port


def _frame(name: str, rdtype: str, qid: int) -> bytes:
    query = dns.message.make_query(name, rdtype)
    query.id = qid
    wire = query.to_wire()
    return struct.pack("!H", len(wire)) + wire


async def _read(reader: asyncio.StreamReader) -> dns.message.Message:
    size = struct.unpack("!H", await reader.readexactly(2))[0]
    return dns.message.from_wire(await reader.readexactly(size))


def test_pipelined_queries_in_one_write_are_answered_in_order() -> None:
    async def scenario() -> None:
        server, port = await _started()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            names = [f"_dmarc.{HZ}", f"nope.{HZ}", f"9.100.51.198.in-addr._spf.{HZ}", "example.com"]
            writer.write(b"".join(_frame(n, "TXT" if i % 2 == 0 else "A", 100 + i) for i, n in enumerate(names)))
            replies = [await _read(reader) for _ in names]
            assert [r.id for r in replies] == [100, 101, 102, 103]
            assert [r.rcode() for r in replies] == [dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.NOERROR,
                                                    dns.rcode.REFUSED]
            writer.close()
        finally:
            await server.close()

    asyncio.run(scenario())


def test_idle_and_trickling_connections_are_closed() -> None:
    async def scenario() -> None:
        server, port = await _started(tcp_idle_timeout=0.3)
        try:
            idle_reader, _idle = await asyncio.open_connection("127.0.0.1", port)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            frame = _frame(f"_dmarc.{HZ}", "TXT", 7)

            async def trickle() -> None:  # one byte every 0.1 s for 2 s: never a whole query
                for byte in frame[:20]:
                    if writer.is_closing():
                        return
                    writer.write(bytes((byte,)))
                    await asyncio.sleep(0.1)

            loop = asyncio.get_running_loop()
            start = loop.time()
            task = asyncio.create_task(trickle())
            assert await asyncio.wait_for(reader.read(1), 5) == b""
            assert loop.time() - start < 1.0  # 0.3 s after the connection opened, not after the last byte
            task.cancel()
            assert await asyncio.wait_for(idle_reader.read(1), 2) == b""  # the idle one too
            assert server.metrics.events[Event.TCP_IDLE_CLOSE] == 2
        finally:
            await server.close()

    asyncio.run(scenario())


def test_connections_beyond_the_limit_are_refused() -> None:
    async def scenario() -> None:
        server, port = await _started(tcp_max_connections=2)
        try:
            kept = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
            await asyncio.sleep(0.05)
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(_frame(f"_dmarc.{HZ}", "TXT", 1))
            assert await asyncio.wait_for(reader.read(1), 2) == b""
            assert server.metrics.events[Event.TCP_REJECTED] == 1
            first_reader, first_writer = kept[0]
            first_writer.write(_frame(f"_dmarc.{HZ}", "TXT", 2))  # the ones accepted still work
            assert (await _read(first_reader)).rcode() == dns.rcode.NOERROR
        finally:
            await server.close()

    asyncio.run(scenario())
