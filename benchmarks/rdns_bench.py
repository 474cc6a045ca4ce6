"""Bulk reverse DNS throughput against an authoritative server on loopback.

Starts a small asyncio DNS server (dnspython wire format) in a child process
that answers PTR for N addresses (a tenth NXDOMAIN) and A for the PTR names,
then times ``enrich.rdns.bulk_reverse`` over all N addresses at several
concurrency bounds. Prints lookups/s (each lookup is a PTR query plus, for
names, the forward-confirming A query).

    .venv/bin/python benchmarks/rdns_bench.py [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import multiprocessing
import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import dns.rrset

from dmarcpilot.enrich.rdns import PtrStatus, RdnsSettings, bulk_reverse, make_resolver

BASE = int(ipaddress.IPv4Address("10.0.0.0"))


def _zone(count: int) -> dict[tuple[str, int], str]:
    records: dict[tuple[str, int], str] = {}
    for n in range(count):
        ip = ipaddress.IPv4Address(BASE + n)
        if n % 10 == 9:
            continue  # NXDOMAIN
        name = f"host{n}.bench.example."
        records[(dns.reversename.from_address(str(ip)).to_text().lower(), dns.rdatatype.PTR)] = name
        records[(name, dns.rdatatype.A)] = str(ip)
    return records


class _Server(asyncio.DatagramProtocol):
    def __init__(self, records: dict[tuple[str, int], str]) -> None:
        self.records = records

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        q = query.question[0]
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        value = self.records.get((q.name.to_text().lower(), q.rdtype))
        if value is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            response.answer.append(dns.rrset.from_text(q.name, 300, "IN", q.rdtype, value))
        self.transport.sendto(response.to_wire(), addr)  # type: ignore[attr-defined]


def _serve(count: int, port_out: multiprocessing.Queue[int]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Server(_zone(count)),
                                                           local_addr=("127.0.0.1", 0))
        port_out.put(transport.get_extra_info("sockname")[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(args.count, ports), daemon=True)
    server.start()
    port = ports.get(timeout=60)
    ips = [ipaddress.IPv4Address(BASE + n) for n in range(args.count)]
    print(f"reverse DNS of {args.count:,} addresses against 127.0.0.1:{port} (a tenth NXDOMAIN)")
    for concurrency in (16, 64, 256):
        resolver = make_resolver([f"127.0.0.1:{port}"])
        start = time.perf_counter()
        results = asyncio.run(bulk_reverse(resolver, ips, RdnsSettings(concurrency=concurrency, timeout=5.0)))
        elapsed = time.perf_counter() - start
        confirmed = sum(r.confirmed for r in results)
        nx = sum(r.status is PtrStatus.NXDOMAIN for r in results)
        print(f"  concurrency {concurrency:4d}: {args.count / elapsed:8,.0f} lookups/s "
              f"({elapsed:.2f} s; {confirmed:,} confirmed, {nx:,} NXDOMAIN)")
    server.terminate()


if __name__ == "__main__":
    main()
