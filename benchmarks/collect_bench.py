#!/usr/bin/env python3
"""Collection benchmark: report mails fetched from a real Dovecot, and accepted by the SMTP receiver.

- IMAP: 1,000 report mails (gzipped RFC 7489 reports, ``--records`` records
  each) are appended to a Dovecot started for the run (tests/sources/dovecot.py,
  loopback, no TLS), then one ``collect_once`` pass fetches them in UID
  batches, ingests each into a fresh SQLite store and moves it to the archive
  folder (UID MOVE). Reports/s = mails / wall time of the pass.
- SMTP: the receiver (aiosmtpd, spool fsynced before each 250) takes the same
  1,000 mails from ``--clients`` smtplib clients in separate processes
  (messages/s accepted), then the worker drains the spool into a fresh store
  (reports/s ingested).

Run: ``.venv/bin/python benchmarks/collect_bench.py [--mails 1000] [--records 10] [--clients 4] [--json]``.
Needs ``dovecot-imapd`` (scripts/ensure-tools). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import smtplib
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.sources import dovecot as dv  # noqa: E402
from tests.sources.mailgen import report_mails  # noqa: E402

from dmarcpilot.ingest.pipeline import Ingestor  # noqa: E402
from dmarcpilot.ingest.summary import IngestSummary  # noqa: E402
from dmarcpilot.sources.imap import ImapAccount, ImapSecurity, Secret, collect_once  # noqa: E402
from dmarcpilot.sources.smtp import SmtpReceiver, SmtpReceiverConfig, drain_spool  # noqa: E402
from dmarcpilot.store.db import create_engine, migrate  # noqa: E402


def _store(directory: Path, name: str) -> Any:
    engine = create_engine(f"sqlite:///{directory / name}")
    migrate(engine)
    return engine


def bench_imap(mails: list[bytes], work: Path, batch_size: int) -> dict[str, Any]:
    with dv.running_dovecot() as server:
        started = time.perf_counter()
        server.append("INBOX", mails)
        append_s = time.perf_counter() - started
        engine = _store(work, "imap.db")
        account = ImapAccount(host="127.0.0.1", port=server.port, user=dv.USER, secret=Secret(dv.PASSWORD),
                              security=ImapSecurity.PLAIN, batch_size=batch_size)
        summary = IngestSummary()
        started = time.perf_counter()
        result = collect_once(account, Ingestor(engine), summary)
        elapsed = time.perf_counter() - started
        assert result.archived == len(mails) and summary.reports_ingested == len(mails), (result, summary)
        assert server.count("dmarcpilot-archive") == len(mails)
        engine.dispose()
    return {"mails": len(mails), "append_s": round(append_s, 2), "collect_s": round(elapsed, 2),
            "reports_per_s": round(len(mails) / elapsed, 1), "batch_size": batch_size}


def _send(port: int, messages: list[bytes]) -> int:
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for message in messages:
            smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], message)
    return len(messages)


def bench_smtp(mails: list[bytes], work: Path, clients: int) -> dict[str, Any]:
    port = dv.free_port()
    config = SmtpReceiverConfig(spool_dir=work / "spool", recipients=("rua@example.com",), port=port,
                                hostname="bench.test")
    receiver = SmtpReceiver(config).start()
    try:
        shares = [mails[i::clients] for i in range(clients)]
        context = multiprocessing.get_context("fork")
        started = time.perf_counter()
        with context.Pool(clients) as pool:
            sent = sum(pool.starmap(_send, [(port, share) for share in shares]))
        accept_s = time.perf_counter() - started
    finally:
        receiver.stop()
    assert sent == len(mails) == len(receiver.spool.pending())
    engine = _store(work, "smtp.db")
    summary = IngestSummary()
    started = time.perf_counter()
    result = drain_spool(receiver.spool, Ingestor(engine), summary)
    drain_s = time.perf_counter() - started
    assert result.ingested == len(mails) and summary.reports_ingested == len(mails)
    engine.dispose()
    return {"mails": len(mails), "clients": clients, "accept_s": round(accept_s, 2),
            "accepted_per_s": round(len(mails) / accept_s, 1), "drain_s": round(drain_s, 2),
            "ingested_per_s": round(len(mails) / drain_s, 1),
            "end_to_end_per_s": round(len(mails) / (accept_s + drain_s), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--records", type=int, default=10, help="records per report")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    mails = report_mails(args.mails, prefix="bench", records=args.records)
    size = sum(len(m) for m in mails) / len(mails)
    with tempfile.TemporaryDirectory(prefix="collect-bench-") as tmp:
        work = Path(tmp)
        print(f"IMAP: {args.mails} mails of {size:.0f} bytes ({args.records} records each)...", file=sys.stderr)
        imap = bench_imap(mails, work, args.batch_size)
        print("SMTP...", file=sys.stderr)
        smtp = bench_smtp(mails, work, args.clients)
    out = {"mail_bytes": round(size), "records_per_report": args.records, "imap": imap, "smtp": smtp}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print(f"IMAP fetch + ingest + UID MOVE: {imap['reports_per_s']} reports/s "
          f"({imap['mails']} in {imap['collect_s']} s; APPEND of the test mails took {imap['append_s']} s)")
    print(f"SMTP accepted (spooled, fsynced, 250): {smtp['accepted_per_s']} messages/s "
          f"with {smtp['clients']} clients ({smtp['accept_s']} s)")
    print(f"SMTP spool drained into the store: {smtp['ingested_per_s']} reports/s ({smtp['drain_s']} s); "
          f"end to end {smtp['end_to_end_per_s']} reports/s")


if __name__ == "__main__":
    main()
