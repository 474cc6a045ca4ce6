"""Report mails for the source tests: good ones (tests/reportgen.py) and hostile ones (tests/hostile_inputs.py)."""

from __future__ import annotations

import gzip

from tests import hostile_inputs as h
from tests.reportgen import aggregate_xml


def report_mail(report_id: str, records: int = 3, first_ip: int = 0x0A000001, rcpt: str = "rua@example.com") -> bytes:
    """One aggregate report, gzipped and attached, as a reporter sends it (RFC 7489 §7.2.1.1)."""
    xml = aggregate_xml(report_id, records, first_ip=first_ip)
    filename = f"reporter.example!example.com!1700000000!1700086399!{report_id}.xml.gz"
    message = h.mail(f"Report Domain: example.com Submitter: reporter.example Report-ID: <{report_id}>",
                     body="This is an aggregate report.\n",
                     attachments=[(filename, "application/gzip", gzip.compress(xml, mtime=0))])
    return crlf(message.replace(b"To: rua@example.com", f"To: {rcpt}".encode(), 1))


def crlf(message: bytes) -> bytes:
    """Line ends as on the wire (RFC 5321 §2.3.8); smtplib sends bytes as given."""
    return message.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def report_mails(count: int, prefix: str = "imap", records: int = 3) -> list[bytes]:
    return [report_mail(f"{prefix}-{n}", records, first_ip=0x0A000001 + n * records) for n in range(count)]


def hostile_mails() -> list[tuple[str, bytes]]:
    """Mails every part of which (or at least one part) must be rejected: they belong in the error folder."""
    xml_attack = [
        ("xxe", h.xxe("file:///etc/passwd")),
        ("xxe-parameter", h.xxe_parameter_entity("http://127.0.0.1:9/evil.dtd")),
        ("external-dtd", h.external_dtd("http://127.0.0.1:9/evil.dtd")),
        ("billion-laughs", h.billion_laughs()),
        ("deeply-nested", h.deeply_nested()),
        ("foreign-root", h.foreign_root()),
        ("truncated", h.truncated_report()),
        ("nested-json", h.nested_json()),
        ("not-tls-json", h.not_tls_json()),
        ("garbage", h.garbage()),
    ]
    mails = [(name, h.mail(f"hostile {name}", attachments=[(f"{name}.xml", "application/octet-stream", data)]))
             for name, data in xml_attack]
    mails += [
        ("gzip-bomb", h.mail("hostile gzip bomb", attachments=[
            ("bomb.xml.gz", "application/gzip", h.gzip_bomb(64 * h.MiB))])),
        ("zip-claiming-size", h.mail("hostile zip", attachments=[
            ("report.zip", "application/zip", h.zip_claiming_size())])),
        ("truncated-gzip", h.mail("hostile truncated gzip", attachments=[
            ("r.xml.gz", "application/gzip", h.truncated_gzip(h.report_xml("tgz")))])),
        ("no-report", h.mail("see you on Monday")),
        ("nested-multipart", h.nested_multipart()),
        ("nested-rfc822", h.nested_rfc822()),
        ("good-and-bad", h.mail("one good, one bad", attachments=[
            ("good.xml", "application/xml", h.report_xml("good-beside-bad", ("198.51.100.7",))),
            ("bad.xml", "application/xml", h.truncated_report())])),
        ("raw-garbage", h.garbage(2048, seed=3)),
    ]
    return mails
