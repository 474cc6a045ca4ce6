"""SPF check_host() throughput: a record with 4 includes, DNS from memory.

    .venv/bin/python benchmarks/spf_bench.py [--seconds 3] [--json]

``example.com`` publishes ``include:`` of four records, each holding two
``ip4``, one ``ip6`` and one ``a`` term; every check starts from nothing but
the parsed-record cache (no DNS cache across checks). Measured for an IPv4
address that matches in the third include (pass, 3 includes and 2 ``a``
lookups) and one that matches nothing (fail, all 4 includes and 4 ``a``
lookups). If pyspf (module ``spf``) is importable it runs the same checks
in the same process, fed the same zone through its ``spf.DNSLookup`` hook,
and the ratio is printed; otherwise the figure is compared with DESIGN.md's
pyspf baseline (2,300 checks/s), labelled as such.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Callable, Iterator
from typing import Any

from dmarcpilot.dnsclient import StaticDnsClient
from dmarcpilot.spf import SpfResult, check_host

DESIGN_BASELINE = 2300.0  # checks/s, pyspf 2.0.14, DESIGN.md "Baselines to beat"
DOMAIN = "example.com"
SENDER = "bounce@example.com"
HELO = "mail.example.org"
CASES = {  # name: (ip, expected result)
    "match in 3rd include": ("198.51.3.7", SpfResult.PASS),
    "no match": ("203.0.114.9", SpfResult.FAIL),
}


def zone_records() -> dict[tuple[str, str], list[str]]:
    includes = [f"_spf{n}.{DOMAIN}" for n in range(1, 5)]
    records: dict[tuple[str, str], list[str]] = {
        (DOMAIN, "TXT"): ["google-site-verification=abc123", "v=spf1 " + " ".join(f"include:{i}" for i in includes)
                          + " -all"],
    }
    for n, name in enumerate(includes, start=1):
        records[(name, "TXT")] = [f"v=spf1 ip4:192.0.{n}.0/24 ip4:198.51.{n}.0/25 ip6:2001:db8:{n}::/48 "
                                  f"a:mail{n}.{DOMAIN} ~all"]
        records[(f"mail{n}.{DOMAIN}", "A")] = [f"203.0.113.{n}"]
    return records


def measure(run_batch: Callable[[int], None], seconds: float) -> float:
    """Checks per second: batches until ``seconds`` have passed (after a warm-up batch)."""
    run_batch(200)
    done, start = 0, time.perf_counter()
    batch = 2000
    while (elapsed := time.perf_counter() - start) < seconds:
        run_batch(batch)
        done += batch
    return done / elapsed


def ours(seconds: float) -> dict[str, float]:
    client = StaticDnsClient(zone_records())
    figures = {}
    for name, (ip, expected) in CASES.items():
        outcome = asyncio.run(check_host(ip, DOMAIN, SENDER, client=client, helo=HELO))
        assert outcome.result is expected, (name, outcome)

        def batch(n: int, ip: str = ip) -> None:
            async def run() -> None:
                for _ in range(n):
                    await check_host(ip, DOMAIN, SENDER, client=client, helo=HELO)
            asyncio.run(run())

        figures[name] = measure(batch, seconds)
    return figures


def pyspf(seconds: float) -> dict[str, float] | None:
    try:
        import spf  # type: ignore[import-not-found,import-untyped,unused-ignore]  # pyspf, optional
    except ImportError:
        return None
    records = {(name.lower(), rdtype): values for (name, rdtype), values in zone_records().items()}

    def lookup(name: str, qtype: str, *args: Any, **kwargs: Any) -> Iterator[tuple[tuple[str, str], Any]]:
        for value in records.get((name.lower().rstrip("."), qtype), []):
            yield (name, qtype), ((value.encode(),) if qtype == "TXT" else value)

    spf.DNSLookup = lookup
    figures = {}
    for name, (ip, expected) in CASES.items():
        result = spf.query(i=ip, s=SENDER, h=HELO).check()[0]
        assert result == expected.value, (name, result)

        def batch(n: int, ip: str = ip) -> None:
            for _ in range(n):
                spf.query(i=ip, s=SENDER, h=HELO).check()

        figures[name] = measure(batch, seconds)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    mine = ours(args.seconds)
    theirs = pyspf(args.seconds)
    if args.json:
        print(json.dumps({"dmarcpilot": mine, "pyspf": theirs, "design_baseline": DESIGN_BASELINE,
                          "python": platform.python_version()}, indent=2))
        return
    print(f"SPF check_host, 4 includes, DNS from memory (Python {platform.python_version()})")
    for name, rate in mine.items():
        line = f"  {name:22} dmarcpilot {rate:9,.0f} checks/s"
        if theirs is not None:
            line += f"   pyspf (same process) {theirs[name]:8,.0f} checks/s  ratio {rate / theirs[name]:4.1f}x"
        line += f"   vs DESIGN.md pyspf baseline {DESIGN_BASELINE:,.0f}/s: {rate / DESIGN_BASELINE:4.1f}x"
        print(line)
    if theirs is None:
        print("pyspf is not installed: the DESIGN.md baseline was measured separately, not in this run")


if __name__ == "__main__":
    main()
