"""Generators of hostile inputs: XXE, entity expansion, decompression bombs, broken envelopes.

Every generator returns the bytes of one input (nothing touches the disk or
the network) and is deterministic, so a failing test can be replayed. The
bombs are built cheaply: ``gzip_bomb`` compresses one chunk and repeats the
compressed segment, so a 1 GiB bomb costs a CRC pass, not a compression pass;
``zip_claiming_size`` patches the size fields of a small archive instead of
compressing anything large.

Used by tests/reports/test_hostile.py and reusable by any test that needs a
nasty input (import from ``tests.hostile_inputs``).
"""

from __future__ import annotations

import gzip
import io
import ipaddress
import random
import struct
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from pathlib import Path

from tests.reportgen import report_head

MiB = 1024 * 1024
GiB = 1024 * MiB

CORPUS = Path(__file__).parent / "data" / "corpus"
GOOD_REPORT = CORPUS / "aggregate" / "example.net!example.com!1529366400!1529452799.xml"

_XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


# -- well-formed material to break ---------------------------------------------

def good_report() -> bytes:
    """The corpus report example.net / example.com (one record, 199.230.200.36)."""
    return GOOD_REPORT.read_bytes()


def report_xml(report_id: str = "hostile-1", source_ips: Sequence[str] = ("192.0.2.1", "192.0.2.2", "192.0.2.3"),
               org: str = "reporter.example", domain: str = "example.com") -> bytes:
    """A small RFC 7489 aggregate report, one record per source IP (not validated here)."""
    records = "".join(
        f"""  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{n}</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated>
    </row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results><dkim><domain>{domain}</domain><result>pass</result></dkim></auth_results>
  </record>
""" for n, ip in enumerate(source_ips, start=1))
    return (report_head(report_id, domain, org) + records + "</feedback>\n").encode()


def _body(xml: bytes) -> bytes:
    """The document without its XML declaration."""
    if xml.startswith(b"<?xml"):
        return xml.split(b"?>", 1)[1].lstrip()
    return xml


# -- XML: DTDs, entities, structure ----------------------------------------------

def xxe(url: str, report: bytes | None = None) -> bytes:
    """A report whose <org_name> is an external entity (file:// or http:// URL)."""
    body = _body(report if report is not None else report_xml("xxe"))
    body = body.replace(b"<org_name>reporter.example</org_name>", b"<org_name>&xxe;</org_name>", 1)
    return (_XML_DECL + f'<!DOCTYPE feedback [\n  <!ENTITY xxe SYSTEM "{url}">\n]>\n'.encode() + body)


def xxe_parameter_entity(url: str) -> bytes:
    """An external DTD fetched through a parameter entity (blind XXE / out-of-band)."""
    return (_XML_DECL + f'<!DOCTYPE feedback [\n  <!ENTITY % remote SYSTEM "{url}">\n  %remote;\n]>\n'.encode()
            + _body(report_xml("xxe-param")))


def external_dtd(url: str) -> bytes:
    """A report declaring an external DTD (``<!DOCTYPE feedback SYSTEM url>``)."""
    return _XML_DECL + f'<!DOCTYPE feedback SYSTEM "{url}">\n'.encode() + _body(report_xml("xxe-dtd"))


def billion_laughs(levels: int = 10, fanout: int = 10) -> bytes:
    """Internal entity expansion: &lol{levels-1}; expands to fanout**levels "lol"s (10**10 by default)."""
    entities = ['  <!ENTITY lol0 "lol">']
    for level in range(1, levels):
        entities.append(f'  <!ENTITY lol{level} "{f"&lol{level - 1};" * fanout}">')
    doctype = "<!DOCTYPE feedback [\n" + "\n".join(entities) + "\n]>\n"
    body = _body(report_xml("laughs")).replace(
        b"<org_name>reporter.example</org_name>", f"<org_name>&lol{levels - 1};</org_name>".encode(), 1)
    return _XML_DECL + doctype.encode() + body


def pad_prolog(xml: bytes, size: int = 70_000) -> bytes:
    """Insert a ``size``-byte comment between the XML declaration and the rest.

    Legal XML; it pushes a DOCTYPE past any "look at the first N KiB" check.
    """
    comment = b"<!--" + b"p" * size + b"-->\n"
    if xml.startswith(b"<?xml"):
        decl, rest = xml.split(b"?>", 1)
        return decl + b"?>\n" + comment + rest.lstrip()
    return comment + xml


def comment_before_doctype(xml: bytes, text: bytes = b"<feedback>") -> bytes:
    """Put a short comment mentioning ``<feedback>`` between the XML declaration and the DOCTYPE.

    Legal XML; defeats a check that only looks for a DOCTYPE before the
    first occurrence of ``<feedback`` in the raw bytes.
    """
    decl, rest = xml.split(b"?>", 1)
    return decl + b"?>\n<!-- " + text + b" -->\n" + rest.lstrip()


def deeply_nested(levels: int = 10_000, inside_report: bool = True) -> bytes:
    """``levels`` nested elements, alone or inside an otherwise valid report."""
    nest = b"<n>" * levels + b"</n>" * levels
    if not inside_report:
        return _XML_DECL + nest
    return report_xml("deep").replace(b"</policy_published>\n", b"</policy_published>\n" + nest + b"\n", 1)


def huge_text(size: int = 11 * MiB) -> bytes:
    """A report whose <org_name> is one text node of ``size`` bytes (libxml2 caps text nodes at 10 MB)."""
    return report_xml("huge-text").replace(b"<org_name>reporter.example", b"<org_name>" + b"a" * size, 1)


def huge_attribute(size: int = 11 * MiB) -> bytes:
    """A report with one attribute value of ``size`` bytes on <org_name>."""
    return report_xml("huge-attr").replace(b"<org_name>", b'<org_name x="' + b"a" * size + b'">', 1)


def foreign_root(name: str = "html") -> bytes:
    """Well-formed XML whose root is not <feedback>."""
    return _XML_DECL + f"<{name}><body><p>not a report</p></body></{name}>\n".encode()


def wrapped_report(wrapper: str = "html") -> bytes:
    """A complete <feedback> report nested inside a foreign root element."""
    return _XML_DECL + f"<{wrapper}>\n".encode() + _body(report_xml("wrapped")) + f"</{wrapper}>\n".encode()


def truncated_report(records: int = 5) -> bytes:
    """A report cut in the middle of its last record (the first records are complete)."""
    ips = [str(ipaddress.IPv4Address(0xC0000200 + i)) for i in range(1, records + 1)]
    xml = report_xml("truncated", ips)
    cut = xml.rindex(b"<record>") + len(b"<record>\n    <row>\n      <source_")
    return xml[:cut]


def truncated_after_record(records: int = 3) -> bytes:
    """A report cut right after a complete </record> (no </feedback>)."""
    ips = [str(ipaddress.IPv4Address(0xC0000200 + i)) for i in range(1, records + 1)]
    xml = report_xml("truncated-clean", ips)
    return xml[: xml.rindex(b"</record>") + len(b"</record>\n")]


def nested_json(levels: int = 10_000) -> bytes:
    """An SMTP TLS report whose "policies" is ``levels`` nested arrays."""
    return (b'{"organization-name": "reporter.example", "report-id": "deep-json", '
            b'"date-range": {"start-datetime": "2024-01-01T00:00:00Z", "end-datetime": "2024-01-01T23:59:59Z"}, '
            b'"contact-info": "tls@reporter.example", "policies": ' + b"[" * levels + b"]" * levels + b"}\n")


def not_tls_json() -> bytes:
    """Valid JSON that is not an RFC 8460 report."""
    return b'{"kind": "analytics", "events": [{"id": 1, "ok": true}], "policies-count": 3}\n'


# -- gzip ---------------------------------------------------------------------------

def noisy_chunk(size: int = MiB, noise: int = 8 * 1024, seed: int = 0) -> bytes:
    """``size`` bytes of XML comments: ``noise`` random letters, then spaces.

    Deflate reaches roughly ``size / noise`` : 1.6 on it, so the ratio can be
    tuned (the default 1 MiB / 8 KiB is about 120:1, under the default cap of
    200:1). The content stays well-formed inside an element, comments only.
    """
    rng = random.Random(seed)
    letters = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(noise))
    body = b"<!--" + letters + b" " * (size - noise - 7) + b"-->"
    assert len(body) == size
    return body


def gzip_bomb(total: int, prefix: bytes = b"<feedback>", chunk: bytes | None = None) -> bytes:
    """A valid gzip stream of ``prefix`` followed by ``chunk`` repeated up to ``total`` bytes.

    Built without compressing ``total`` bytes: one chunk is deflated up to a
    full flush (which resets the dictionary) and the resulting segment is
    repeated; only the CRC is computed over the whole content. With the
    default chunk (1 MiB of spaces) the ratio is about 1000:1.
    """
    chunk = chunk if chunk is not None else b" " * MiB
    count, rest = divmod(max(total - len(prefix), 0), len(chunk))
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH)
    segment = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.compress(chunk[:rest]) + comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(prefix)
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(chunk[:rest], crc)
    size = len(prefix) + count * len(chunk) + rest
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + head + segment * count + tail + struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF)


def truncated_gzip(data: bytes, drop: int = 20) -> bytes:
    """``data`` gzipped, then the last ``drop`` bytes cut (CRC, size and some deflate data)."""
    whole = gzip.compress(data, mtime=0)
    return whole[:-drop]


def many_gzip_members(count: int, last: bytes) -> bytes:
    """``count`` empty gzip members followed by one holding ``last`` (valid per RFC 1952 2.2)."""
    return gzip.compress(b"", mtime=0) * count + gzip.compress(last, mtime=0)


# -- zip --------------------------------------------------------------------------------

def zip_archive(members: Iterable[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            archive.writestr(info, data)
    return buf.getvalue()


def _patch_member(data: bytes, **fields: int) -> bytes:
    """Patch the first member's local header and central directory entry.

    ``flag``, ``compress_size`` and ``file_size`` are the fields of
    APPNOTE.TXT 4.3.7 / 4.3.12 (offsets 6/18/22 and 8/20/24).
    """
    buf = bytearray(data)
    central = buf.rindex(b"PK\x01\x02")
    assert buf[:4] == b"PK\x03\x04"
    offsets = {"flag": (6, 8, "<H"), "compress_size": (18, 20, "<I"), "file_size": (22, 24, "<I")}
    for name, value in fields.items():
        local, cdir, fmt = offsets[name]
        struct.pack_into(fmt, buf, local, value)
        struct.pack_into(fmt, buf, central + cdir, value)
    return bytes(buf)


def zip_claiming_size(claimed: int = 2 * GiB, name: str = "report.xml", data: bytes | None = None) -> bytes:
    """A tiny zip whose member's headers claim ``claimed`` uncompressed bytes (no zip64 below 4 GiB)."""
    assert claimed < 0xFFFFFFFF
    archive = zip_archive([(name, data if data is not None else report_xml("claims"))])
    return _patch_member(archive, file_size=claimed)


def zip_lying_small(actual: bytes, claimed: int = 1000, name: str = "bomb.xml") -> bytes:
    """A zip member that decompresses to ``actual`` but whose headers claim ``claimed`` bytes."""
    return _patch_member(zip_archive([(name, actual)]), file_size=claimed)


def zip_encrypted_flag(name: str = "report.xml", data: bytes | None = None) -> bytes:
    """A zip member flagged encrypted (general purpose bit 0) though its data is plain."""
    archive = zip_archive([(name, data if data is not None else report_xml("encrypted"))])
    return _patch_member(archive, flag=0x1)


def zip_many_members(count: int, data: bytes = b"<feedback/>") -> bytes:
    return zip_archive((f"r{i:05d}.xml", data) for i in range(count))


def zip_member_file(path: Path, name: str, chunk: bytes, count: int) -> None:
    """Write a zip holding one deflated member of ``chunk`` repeated ``count`` times (streamed)."""
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive, archive.open(info, "w", force_zip64=True) as member:
        for _ in range(count):
            member.write(chunk)


def nested_archives(payload: bytes, layers: int) -> bytes:
    """``payload`` wrapped in ``layers`` envelopes, alternating gzip (odd) and zip (even) from inside out."""
    data = payload
    for layer in range(1, layers + 1):
        data = gzip.compress(data, mtime=0) if layer % 2 else zip_archive([(f"layer{layer - 1}.gz", data)])
    return data


# -- mail ---------------------------------------------------------------------------------

def mail(subject: str, body: str = "Hello,\n\nsee you on Monday.\n",
         attachments: Iterable[tuple[str, str, bytes]] = ()) -> bytes:
    """An RFC 5322 message; attachments are (filename, content type, bytes)."""
    msg = EmailMessage()
    msg["From"] = "sender@reporter.example"
    msg["To"] = "rua@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 01 Jan 2024 00:00:00 +0000"
    msg["Message-ID"] = f"<{zlib.crc32(subject.encode()):08x}@reporter.example>"
    msg.set_content(body)
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def report_mail(report: bytes, filename: str = "reporter.example!example.com!1700000000!1700086399.xml.gz") -> bytes:
    return mail(f"Report Domain: example.com Submitter: reporter.example Report-ID: <{len(report)}>",
                body="This is an aggregate report.\n",
                attachments=[(filename, "application/gzip", gzip.compress(report, mtime=0))])


def nested_multipart(levels: int = 3000) -> bytes:
    """A mail of ``levels`` multipart/mixed parts each inside the one before."""
    head = (b"From: sender@reporter.example\r\nTo: rua@example.com\r\nSubject: nested\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
    opening = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (i - 1, i)
                       for i in range(1, levels))
    inner = b"--b%d\r\nContent-Type: text/plain\r\n\r\nhello\r\n" % (levels - 1)
    closing = b"".join(b"--b%d--\r\n" % i for i in range(levels - 1, -1, -1))
    return head + opening + inner + closing


def nested_rfc822(levels: int = 3000) -> bytes:
    """A mail that forwards a mail that forwards a mail ... ``levels`` deep (message/rfc822)."""
    inner = b"From: a@reporter.example\r\nSubject: innermost\r\n\r\nhello\r\n"
    head = b"From: a@reporter.example\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n"
    return head * levels + inner


def mbox(*messages: bytes) -> bytes:
    """An mboxrd file (RFC 4155): ``From `` separators, ``>From`` quoting, LF line ends."""
    out = []
    for message in messages:
        text = message.replace(b"\r\n", b"\n")
        lines = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in text.split(b"\n")]
        out.append(b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n" + b"\n".join(lines).rstrip(b"\n") + b"\n\n")
    return b"".join(out)


# -- garbage ------------------------------------------------------------------------------------

def garbage(size: int = 4096, seed: int = 1) -> bytes:
    """Random bytes that do not start like any known envelope (no magic, no '<', '{', 'From ')."""
    data = bytearray(random.Random(seed).randbytes(size))
    data[0] = 0x80  # not gzip, zip, XML, JSON, mbox or a header line
    return bytes(data)
