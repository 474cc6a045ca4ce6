#!/usr/bin/env python3
"""Ingest benchmark: parse and full-ingest throughput and peak memory.

Generates RFC 7489 aggregate reports (one unique source IP per record) under
``benchmarks/out/``, then measures, each in a fresh subprocess so that peak
RSS belongs to one measurement only:

- parse-only (``AggregateParser.events()``),
- full ingest into a fresh SQLite file,
- full ingest into a fresh PostgreSQL database (created and dropped here),
- parsedmarc 11.1.0's offline parse of the 100k-record report (baseline, in
  a virtualenv of its own at ``benchmarks/out/parsedmarc-venv``).

Run: ``.venv/bin/python benchmarks/ingest_bench.py [--quick] [--sizes N,N] [--json]``.
Progress goes to stderr; the table (or, with ``--json``, one JSON document)
to stdout. See ``benchmarks/README.md``.

Only the standard library is imported at module level: the same file runs as
the measuring child in both the project's and parsedmarc's virtualenvs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
PARSEDMARC = "parsedmarc==11.1.0"
GENERATOR_VERSION = 1  # bump when the report layout changes: files are regenerated
DEFAULT_SIZES = (100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
BASELINE_SIZE = 100_000
PG_ADMIN_URL = os.environ.get("DMARCPILOT_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

# Targets from the issue.
TARGET_PARSE_RATIO = 15.0
TARGET_SQLITE_RATE = 40_000.0
TARGET_RSS_MB = 200.0
TARGET_RSS_SIZE = 1_000_000

NET_EVENTS = frozenset({"socket.connect", "socket.getaddrinfo", "socket.gethostbyname",
                        "socket.gethostbyaddr", "socket.sendto"})


# --------------------------------------------------------------------------- report generation

_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>bench.example</org_name>
    <email>noreply-dmarc-support@bench.example</email>
    <extra_contact_info>https://bench.example/dmarc</extra_contact_info>
    <report_id>bench-{size}-v{version}</report_id>
    <date_range>
      <begin>1717200000</begin>
      <end>1717286399</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>university.example</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
  </policy_published>
"""

_RECORD = """  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>{disposition}</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>{header_from}</header_from>
      <envelope_from>{envelope_from}</envelope_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{dkim_domain}</domain>
        <selector>{selector}</selector>
        <result>{dkim_result}</result>
      </dkim>
      <spf>
        <domain>{spf_domain}</domain>
        <scope>mfrom</scope>
        <result>{spf_result}</result>
      </spf>
    </auth_results>
  </record>
"""

# (weight, disposition, dkim aligned, spf aligned, dkim result, spf result, third-party sender?)
_SCENARIOS = (
    (60, "none", "pass", "pass", "pass", "pass", False),
    (15, "none", "pass", "fail", "pass", "softfail", True),
    (8, "none", "fail", "pass", "fail", "pass", False),
    (10, "none", "fail", "fail", "fail", "fail", True),
    (3, "quarantine", "fail", "fail", "none", "neutral", True),
    (2, "reject", "fail", "fail", "permerror", "temperror", True),
    (2, "none", "fail", "fail", "temperror", "none", False),
)
_OWN = ("university.example", "mail.university.example", "alumni.university.example",
        "lists.university.example")
_THIRD = ("sendgrid.net", "mailchimpapp.net", "amazonses.com", "mktomail.com", "spammer.example")
_SELECTORS = ("s1", "s2", "google", "selector1", "k1", "default")
_CUM_WEIGHTS = [sum(s[0] for s in _SCENARIOS[: k + 1]) for k in range(len(_SCENARIOS))]


def source_ip(i: int) -> str:
    """A distinct address for every ``i``: one in ten IPv6, the rest spread over IPv4."""
    if i % 10 == 9:
        return f"2001:db8:{i >> 16:x}:{i & 0xFFFF:x}::25"
    v = (i * 2_654_435_761 + 0x0B00_0000) & 0xFFFF_FFFF  # odd multiplier: a bijection mod 2**32
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def record_xml(i: int, rng: random.Random) -> str:
    _, disposition, dkim, spf, dkim_result, spf_result, third = rng.choices(
        _SCENARIOS, cum_weights=_CUM_WEIGHTS)[0]
    header_from = rng.choice(_OWN)
    sender = rng.choice(_THIRD) if third else header_from
    return _RECORD.format(
        ip=source_ip(i), count=1 + int(rng.paretovariate(1.2)) % 5000, disposition=disposition,
        dkim=dkim, spf=spf, header_from=header_from, envelope_from=f"bounce.{sender}",
        dkim_domain=sender, selector=rng.choice(_SELECTORS), dkim_result=dkim_result,
        spf_domain=f"bounce.{sender}", spf_result=spf_result,
    )


def report_path(size: int) -> Path:
    return OUT / f"aggregate-v{GENERATOR_VERSION}-{size}.xml"


def ensure_report(size: int) -> Path:
    """Write the report of ``size`` records (streaming) unless it already exists."""
    path = report_path(size)
    if path.exists():
        return path
    log(f"generating {path.relative_to(HERE.parent)} ({size:,} records)")
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial")
    rng = random.Random(size)
    with tmp.open("w", encoding="utf-8", buffering=1 << 20) as out:
        out.write(_HEAD.format(size=size, version=GENERATOR_VERSION))
        for start in range(0, size, 10_000):
            out.write("".join(record_xml(i, rng) for i in range(start, min(start + 10_000, size))))
        out.write("</feedback>\n")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------- the measuring child

def peak_rss_mb() -> float:
    """Peak resident set of this process, in MB (MiB).

    ``VmHWM`` is the high-water mark of this process's own address space.
    ``ru_maxrss`` is not used on Linux: a child started by fork/vfork + exec
    inherits the parent's RSS at fork time in it, which would charge the
    parent's memory to every measurement.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def count_network(counter: list[int]) -> None:
    """Count every attempt to resolve or connect through Python's socket module."""

    def hook(event: str, _args: tuple[Any, ...]) -> None:
        if event in NET_EVENTS:
            counter[0] += 1

    sys.addaudithook(hook)


def child_parse(path: str, _url: str) -> dict[str, Any]:
    from dmarcpilot.reports.aggregate import AggregateParser

    parser = AggregateParser(lambda: open(path, "rb"))  # noqa: SIM115 - the parser closes it
    records = -1  # the header
    start_rss, t0 = peak_rss_mb(), time.perf_counter()
    for _ in parser.events():
        records += 1
    return {"records": records, "seconds": time.perf_counter() - t0, "start_rss_mb": start_rss,
            "problems": list(parser.errors)}


def child_ingest(path: str, url: str) -> dict[str, Any]:
    from dmarcpilot.ingest.pipeline import Ingestor
    from dmarcpilot.sources.files import walk_paths
    from dmarcpilot.store.db import open_store

    engine = open_store(url)
    start_rss, t0 = peak_rss_mb(), time.perf_counter()
    summary = Ingestor(engine).run(walk_paths([path]))
    seconds = time.perf_counter() - t0
    engine.dispose()
    problems = [f"{r.path}: {r.reason}" for r in summary.rejected]
    return {"records": summary.records, "seconds": seconds, "start_rss_mb": start_rss, "problems": problems}


def child_parsedmarc(path: str, _url: str) -> dict[str, Any]:
    import parsedmarc  # type: ignore[import-not-found]  # only in the baseline's virtualenv

    start_rss, t0 = peak_rss_mb(), time.perf_counter()
    # A file object, not the path: 11.1.0 takes a str argument for base64 report content.
    with open(path, "rb") as stream:
        report = parsedmarc.parse_aggregate_report_file(stream, offline=True, always_use_local_files=True)
    seconds = time.perf_counter() - t0
    return {"records": len(report["records"]), "seconds": seconds, "start_rss_mb": start_rss, "problems": []}


CHILDREN: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "parse": child_parse,
    "ingest": child_ingest,
    "parsedmarc": child_parsedmarc,
}


def run_child(kind: str, path: str, url: str) -> None:
    """Entry point of the measuring subprocess: one JSON line on stdout."""
    network = [0]
    count_network(network)
    result = CHILDREN[kind](path, url)
    result["peak_rss_mb"] = peak_rss_mb()
    result["network_attempts"] = network[0]
    print(json.dumps(result), flush=True)


# --------------------------------------------------------------------------- the parent

@dataclass
class Measure:
    records: int
    seconds: float
    peak_rss_mb: float
    start_rss_mb: float
    network_attempts: int = 0
    problems: list[str] = field(default_factory=list)
    db_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "records_per_s": round(self.rate, 1)}


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def measure(kind: str, path: Path, url: str = "", python: str = sys.executable, label: str = "") -> Measure:
    cmd = [python, str(Path(__file__).resolve()), "--child", kind, "--path", str(path), "--url", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    result = Measure(**data)
    log(f"  {label or kind:<10} {result.records:>10,} records  {result.seconds:8.2f} s  "
        f"{result.rate:>10,.0f} rec/s  peak RSS {result.peak_rss_mb:6.1f} MB")
    return result


def measure_sqlite(path: Path) -> Measure:
    with tempfile.TemporaryDirectory(prefix="dmarcpilot-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        result = measure("ingest", path, f"sqlite:///{db}", label="sqlite")
        result.db_mb = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 1e6
    return result


def pg_admin() -> Any:
    import sqlalchemy as sa

    from dmarcpilot.store.db import normalise_url

    return sa.create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


def measure_pg(path: Path) -> Measure:
    name = f"dmarcpilot_bench_{secrets.token_hex(6)}"
    admin = pg_admin()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        result = measure("ingest", path, url, label="postgresql")
        with admin.connect() as conn:
            result.db_mb = conn.exec_driver_sql(f"SELECT pg_database_size('{name}')").scalar_one() / 1e6
        return result
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def best_of(repeat: int, run: Callable[[], Measure]) -> Measure:
    """The fastest of ``repeat`` runs, with the highest peak RSS seen in any of them."""
    runs = [run() for _ in range(max(repeat, 1))]
    best = min(runs, key=lambda m: m.seconds)
    best.peak_rss_mb = max(m.peak_rss_mb for m in runs)
    return best


def measure_size(size: int, with_pg: bool, repeat: int) -> dict[str, Measure]:
    path = ensure_report(size)
    log(f"{size:,} records: {path.stat().st_size / 1e6:,.0f} MB")
    results = {"parse": best_of(repeat, lambda: measure("parse", path)),
               "sqlite": best_of(repeat, lambda: measure_sqlite(path))}
    if with_pg:
        results["postgresql"] = best_of(repeat, lambda: measure_pg(path))
    return results


def parsedmarc_python() -> str:
    """The baseline's virtualenv (created, or reused when it has the right version)."""
    venv = OUT / "parsedmarc-venv"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('parsedmarc'))"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).stdout.strip() == "11.1.0":
        return str(python)
    log(f"creating {venv.relative_to(HERE.parent)} with {PARSEDMARC}")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", PARSEDMARC], check=True)
    return str(python)


def measure_baseline(dmarcpilot_parse: Measure | None, repeat: int) -> dict[str, Measure]:
    path = ensure_report(BASELINE_SIZE)
    log(f"baseline on {BASELINE_SIZE:,} records")
    if dmarcpilot_parse is None:
        dmarcpilot_parse = best_of(repeat, lambda: measure("parse", path))
    python = parsedmarc_python()
    theirs = best_of(repeat, lambda: measure("parsedmarc", path, python=python))
    return {"parsedmarc": theirs, "dmarcpilot": dmarcpilot_parse}


# --------------------------------------------------------------------------- targets and output

@dataclass
class Target:
    name: str
    value: float | None
    goal: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


def targets(sizes: dict[int, dict[str, Measure]], baseline: dict[str, Measure] | None) -> list[Target]:
    found: list[Target] = []
    if baseline:
        ratio = baseline["dmarcpilot"].rate / max(baseline["parsedmarc"].rate, 1e-9)
        found.append(Target(f"parse speed vs parsedmarc ({BASELINE_SIZE:,})", ratio,
                            f">= {TARGET_PARSE_RATIO:g}x", ratio >= TARGET_PARSE_RATIO))
    for size, results in sizes.items():
        rate = results["sqlite"].rate
        found.append(Target(f"SQLite ingest rec/s ({size:,})", rate, f">= {TARGET_SQLITE_RATE:,.0f}",
                            rate >= TARGET_SQLITE_RATE))
    big = sizes.get(TARGET_RSS_SIZE)
    for kind in ("parse", "sqlite", "postgresql"):
        rss = big[kind].peak_rss_mb if big and kind in big else None
        found.append(Target(f"peak RSS {kind} ({TARGET_RSS_SIZE:,}) MB", rss, f"< {TARGET_RSS_MB:g}",
                            None if rss is None else rss < TARGET_RSS_MB))
    return found


def _cell(m: Measure | None) -> str:
    return f"{'-':>12} {'-':>8}" if m is None else f"{m.rate:>12,.0f} {m.peak_rss_mb:>8.1f}"


def table(sizes: dict[int, dict[str, Measure]], baseline: dict[str, Measure] | None,
          found: list[Target]) -> Iterator[str]:
    yield f"{'':>10} | {'parse':^21} | {'SQLite ingest':^21} | {'PostgreSQL ingest':^21}"
    yield f"{'records':>10} | " + " | ".join([f"{'rec/s':>12} {'RSS MB':>8}"] * 3)
    yield "-" * 83
    for size, r in sizes.items():
        yield f"{size:>10,} | " + " | ".join(_cell(r.get(k)) for k in ("parse", "sqlite", "postgresql"))
    if baseline:
        pm, dp = baseline["parsedmarc"], baseline["dmarcpilot"]
        yield ""
        yield f"baseline ({BASELINE_SIZE:,} records, offline parse, network attempts: {pm.network_attempts})"
        for label, m in ((PARSEDMARC, pm), ("dmarcpilot parse", dp)):
            yield f"  {label:<20} {m.rate:>10,.0f} rec/s {m.peak_rss_mb:>8.1f} MB peak {m.seconds:8.1f} s"
        yield f"  ratio dmarcpilot / parsedmarc: {dp.rate / max(pm.rate, 1e-9):.1f}x"
    yield ""
    yield "targets"
    for t in found:
        value = "-" if t.value is None else f"{t.value:,.1f}"
        yield f"  {t.name:<36} {value:>12}  goal {t.goal:<10} {t.verdict}"


def problems(sizes: dict[int, dict[str, Measure]]) -> Iterator[str]:
    for size, results in sizes.items():
        for kind, m in results.items():
            if m.records != size:
                yield f"{kind} {size:,}: {m.records:,} records instead of {size:,}"
            for p in m.problems[:5]:
                yield f"{kind} {size:,}: {p}"


def source_revision() -> str:
    """The commit measured, with ``+dirty`` when src/ has uncommitted changes."""
    git = ["git", "-C", str(HERE.parent)]
    head = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True,
                           check=False)
    if head.returncode != 0:
        return "(not a git checkout)"
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def as_json(sizes: dict[int, dict[str, Measure]], baseline: dict[str, Measure] | None,
            found: list[Target], repeat: int) -> dict[str, Any]:
    return {
        "revision": source_revision(),
        "repeat": repeat,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "sizes": {str(n): {k: m.to_dict() for k, m in r.items()} for n, r in sizes.items()},
        "baseline": None if baseline is None else {k: m.to_dict() for k, m in baseline.items()},
        "targets": [{"name": t.name, "value": t.value, "goal": t.goal, "verdict": t.verdict} for t in found],
    }


# --------------------------------------------------------------------------- command line

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                    help="comma-separated record counts (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help=f"sizes {QUICK_SIZES[0]:,} and {QUICK_SIZES[1]:,}")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout (table to stderr)")
    ap.add_argument("--no-pg", action="store_true", help="skip the PostgreSQL ingests")
    ap.add_argument("--no-baseline", action="store_true", help="skip the parsedmarc baseline")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run each measurement N times, keep the fastest (default: %(default)s)")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def chosen_sizes(args: argparse.Namespace) -> list[int]:
    if args.quick:
        return list(QUICK_SIZES)
    return [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args.child, args.path, args.url)
        return 0
    sizes = {size: measure_size(size, not args.no_pg, args.repeat) for size in chosen_sizes(args)}
    baseline = None
    if not args.no_baseline:
        ours = sizes[BASELINE_SIZE]["parse"] if BASELINE_SIZE in sizes else None
        baseline = measure_baseline(ours, args.repeat)
    found = targets(sizes, baseline)
    lines = [f"dmarcpilot {source_revision()}, best of {args.repeat} run(s)",
             *table(sizes, baseline, found), *(f"PROBLEM {p}" for p in problems(sizes))]
    print("\n".join(lines), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.json:
        print(json.dumps(as_json(sizes, baseline, found, args.repeat), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
