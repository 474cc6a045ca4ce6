"""Inputs from the file system: recursion, Maildir (tmp/ skipped), hidden files."""

from __future__ import annotations

import base64
import gzip
from pathlib import Path

import sqlalchemy as sa

from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.sources.files import Input, Unreadable, walk_paths
from tests.reportgen import aggregate_xml


def _mail(xml: bytes, name: str) -> bytes:
    return (
        b"From: noreply-dmarc-support@google.com\r\nTo: rua@example.com\r\n"
        b"Subject: Report domain: example.com\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        b"Content-Type: text/plain\r\n\r\nThis is an aggregate report.\r\n--b1\r\n"
        b"Content-Type: application/gzip; name=" + name.encode() + b"\r\n"
        b"Content-Disposition: attachment; filename=" + name.encode() + b"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(gzip.compress(xml)) + b"--b1--\r\n"
    )


def _maildir(root: Path) -> None:
    for part in ("cur", "new", "tmp"):
        (root / part).mkdir(parents=True)
    (root / "new" / "1700000000.M1.host").write_bytes(_mail(aggregate_xml("md-1", 2), "a.xml.gz"))
    (root / "cur" / "1700000001.M2.host:2,S").write_bytes(_mail(aggregate_xml("md-2", 3), "b.xml.gz"))
    (root / "tmp" / "1700000002.M3.host").write_bytes(b"From: half-written delivery\r\n")


def test_walk_skips_maildir_tmp_and_hidden_files(tmp_path: Path) -> None:
    _maildir(tmp_path / "Maildir")
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "nested" / "deeper" / "r.xml").write_bytes(aggregate_xml("nested-1", 1))
    (tmp_path / "nested" / ".DS_Store").write_bytes(b"\0\0")
    _maildir(tmp_path / "Maildir" / ".Reports")  # a Maildir++ sub-folder is hidden but read
    found = [i.origin for i in walk_paths([str(tmp_path)]) if isinstance(i, Input)]
    names = sorted(Path(f).name for f in found)
    assert names == sorted(["1700000000.M1.host", "1700000001.M2.host:2,S"] * 2 + ["r.xml"])
    assert not any("/tmp/" in f.removeprefix(str(tmp_path)) for f in found)


def test_walk_reports_missing_paths(tmp_path: Path) -> None:
    items = list(walk_paths([str(tmp_path / "missing")]))
    assert items == [Unreadable(str(tmp_path / "missing"), "no such file or directory")]


def test_maildir_reports_are_ingested(engine: sa.Engine, tmp_path: Path) -> None:
    _maildir(tmp_path / "Maildir")
    summary = Ingestor(engine).run(walk_paths([str(tmp_path / "Maildir")]))
    assert (summary.reports_ingested, summary.records, summary.messages) == (2, 5, 3 + 6)
    assert summary.rejected == []


def test_report_mail_with_html_body_and_logo_is_clean(engine: sa.Engine, tmp_path: Path) -> None:
    """Parts that are not reports (HTML body, an image) are neither read nor rejected."""
    xml = aggregate_xml("mail-parts-1", 2)
    mail = (
        b"From: dmarc@reporter.example\r\nTo: rua@example.com\r\nSubject: Report\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        b"--b1\r\nContent-Type: text/html\r\n\r\n<html><body><p>Your report</p></body></html>\r\n"
        b"--b1\r\nContent-Type: image/png; name=logo.png\r\nContent-Disposition: attachment; filename=logo.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
        + b"--b1\r\nContent-Type: application/gzip; name=r.xml.gz\r\n"
        b"Content-Disposition: attachment; filename=r.xml.gz\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(gzip.compress(xml)) + b"--b1--\r\n"
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "report.eml").write_bytes(mail)
    summary = Ingestor(engine).run(walk_paths([str(tmp_path / "in")]))
    assert (summary.reports_ingested, summary.records) == (1, 2)
    assert summary.rejected == []
