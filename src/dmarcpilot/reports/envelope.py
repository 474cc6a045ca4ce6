"""Unwrap an input into report payloads, detecting every envelope by content.

Envelopes: raw XML / JSON, gzip (RFC 1952), zip (one or several members),
MIME mail (RFC 5322 / RFC 2045; attachments in any of these forms), mbox
files. File names are never trusted: Google names zips ``.zip`` and
Mimecast names gzips ``.xml.gz``, but reporters lie and proxies rename.
Directories and Maildir folders are walked by ``dmarcpilot.sources.files``.
"""

from __future__ import annotations

import enum
import io
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import IO

from dmarcpilot.bytestream import ByteStream, Opener
from dmarcpilot.reports.errors import LimitExceeded, MalformedReport, NotAReport, ReportError
from dmarcpilot.reports.failure import parse_mail
from dmarcpilot.reports.limits import Limits
from dmarcpilot.reports.streams import CappedReader, GzipReader, Wrapper, read_all

SNIFF = 4096

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:[ \t]?", re.ASCII)
_MBOX_FROM = re.compile(rb"^From \S+")
_MBOX_QUOTED = re.compile(rb"^>+From ")
_FAILURE_TEXT = re.compile(
    rb"(DMARC (Forensic|Failure) Report|failed the published DMARC policy|Feedback-Type:\s*auth-failure)",
    re.IGNORECASE,
)


class PayloadKind(enum.Enum):
    AGGREGATE_XML = "aggregate_xml"
    TLS_JSON = "tls_json"
    FAILURE_MAIL = "failure_mail"


class Envelope(enum.Enum):
    GZIP = "gzip"
    ZIP = "zip"
    MIME = "mime"
    MBOX = "mbox"
    XML = "xml"
    JSON = "json"
    UNKNOWN = "unknown"


#: What a MIME part must look like to be read as a report (or rejected as a bad one).
_REPORT_ENVELOPES = frozenset({Envelope.XML, Envelope.JSON, Envelope.GZIP, Envelope.ZIP})


@dataclass(frozen=True, slots=True)
class Payload:
    """One report's bytes, re-openable, with the path that led to it."""

    path: str
    kind: PayloadKind
    opener: Opener


@dataclass(frozen=True, slots=True)
class Rejection:
    path: str
    reason: str


def sniff(head: bytes) -> Envelope:
    """Name the envelope from the first bytes of a stream."""
    if head[:2] == b"\x1f\x8b":
        return Envelope.GZIP
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return Envelope.ZIP
    body = _strip_bom(head).lstrip()
    if body[:1] == b"<":
        return Envelope.XML
    if body[:1] in (b"{", b"["):
        return Envelope.JSON
    if _MBOX_FROM.match(head):
        return Envelope.MBOX
    if _HEADER_LINE.match(head.lstrip(b"\r\n")):
        return Envelope.MIME
    return Envelope.UNKNOWN


def _strip_bom(data: bytes) -> bytes:
    for bom in _BOMS:
        if data.startswith(bom):
            return data[len(bom):]
    return data


class _Unwrapper:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits

    def walk(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        if depth > self.limits.max_nesting:
            yield Rejection(path, f"nesting deeper than the limit of {self.limits.max_nesting} envelopes")
            return
        try:
            with opener() as stream:
                head = stream.read(SNIFF)
        except ReportError as exc:
            yield Rejection(path, exc.reason)
            return
        if not head.strip(b" \t\r\n\x00"):
            yield Rejection(path, "empty input")
            return
        kind = sniff(head)
        handler = self._handlers().get(kind)
        if handler is None:
            yield Rejection(path, "not a report: unrecognised content (not XML, JSON, gzip, zip or mail)")
            return
        try:
            yield from handler(path, opener, depth)
        except ReportError as exc:
            yield Rejection(path, exc.reason)

    def _handlers(self) -> dict[Envelope, Callable[[str, Opener, int], Iterator[Payload | Rejection]]]:
        return {
            Envelope.GZIP: self._gzip,
            Envelope.ZIP: self._zip,
            Envelope.MIME: self._mime,
            Envelope.MBOX: self._mbox,
            Envelope.XML: self._xml,
            Envelope.JSON: self._json,
        }

    def _xml(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        yield Payload(path, PayloadKind.AGGREGATE_XML, lambda: _SkipLeading(opener()))

    def _json(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        cap = self.limits.max_json_bytes
        yield Payload(path, PayloadKind.TLS_JSON, lambda: CappedReader(opener(), cap, path))

    def _gzip(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        limits = self.limits
        yield from self.walk(f"{path} > gunzip", lambda: GzipReader(opener(), limits, path), depth + 1)

    def _zip(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        with _seekable(opener, self.limits, path) as spooled:
            try:
                archive = zipfile.ZipFile(spooled)
            except (zipfile.BadZipFile, ValueError) as exc:
                raise MalformedReport(f"corrupt zip archive ({exc})") from None
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) > self.limits.max_zip_members:
                raise LimitExceeded(f"zip has {len(members)} members, more than the limit of "
                                    f"{self.limits.max_zip_members}")
            if not members:
                raise NotAReport("empty zip archive")
            for member in members:
                inner = f"{path} > {member.filename}"
                problem = self._zip_member_problem(member)
                if problem:
                    yield Rejection(inner, problem)
                    continue
                # The archive stays open while the member's reports are consumed.
                yield from self.walk(inner, self._member_opener(archive, member, inner), depth + 1)

    def _zip_member_problem(self, member: zipfile.ZipInfo) -> str | None:
        if member.flag_bits & 0x1:
            return "encrypted zip member"
        if member.file_size > self.limits.max_decompressed_bytes:
            return (f"zip member claims {member.file_size} bytes, more than the limit of "
                    f"{self.limits.max_decompressed_bytes} bytes")
        return None

    def _member_opener(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo, path: str) -> Opener:
        """A capped stream over one member: sizes in the header may lie, reads may not."""
        limits = self.limits
        compressed = max(member.compress_size, 1)

        def opener() -> ByteStream:
            try:
                raw = archive.open(member)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise MalformedReport(f"corrupt zip member ({exc})") from None
            return _ZipErrors(CappedReader(raw, limits.max_decompressed_bytes, path, lambda: compressed, limits))

        return opener

    def _mbox(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        for index, message in enumerate(split_mbox(opener, self.limits), start=1):
            if index > self.limits.max_mbox_messages:
                yield Rejection(path, f"more than {self.limits.max_mbox_messages} messages in one mbox")
                return
            yield from self.walk(f"{path} > message {index}", _bytes_opener(message), depth + 1)

    def _mime(self, path: str, opener: Opener, depth: int) -> Iterator[Payload | Rejection]:
        with opener() as stream:
            data = read_all(CappedReader(stream, self.limits.max_mime_bytes, path))
        message = parse_mail(data)
        if _is_failure_report(message, data):
            yield Payload(path, PayloadKind.FAILURE_MAIL, _bytes_opener(data))
            return
        found = False
        for index, part in enumerate(message.walk()):
            if index > self.limits.max_mime_parts:
                yield Rejection(path, f"more than {self.limits.max_mime_parts} MIME parts")
                return
            for item in self._mime_part(path, part, depth):
                found = True
                yield item
        if not found:
            subject = _clean_header(message.get("Subject"))
            yield Rejection(path, f"mail without a report (subject: {subject!r})")

    def _mime_part(self, path: str, part: Message, depth: int) -> Iterator[Payload | Rejection]:
        if part.is_multipart():
            return
        ctype = part.get_content_type()
        filename = _clean_header(part.get_filename())
        if ctype == "message/rfc822":
            return  # walk() already descends into attached messages
        body = part.get_payload(decode=True)
        if not isinstance(body, bytes) or ctype == "text/html":
            return
        if sniff(body[:SNIFF]) not in _REPORT_ENVELOPES:
            return  # the human-readable body, a logo, a signature: not a report, not an error
        label = filename or ctype
        yield from self.walk(f"{path} > {label}", _bytes_opener(body), depth + 1)


def _is_failure_report(message: Message, data: bytes) -> bool:
    """RFC 6591 section 2 / RFC 9991: an ARF report of feedback type auth-failure."""
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report":
            return True
    if message.get_content_type() == "multipart/report":
        # Reporters such as Exim send multipart/report without an ARF part.
        return bool(_FAILURE_TEXT.search(data[:65536]))
    return False


def _clean_header(value: object) -> str:
    text = "" if value is None else str(value)
    return " ".join(text.split())[:200]


class _ZipErrors(Wrapper):
    """Turns zipfile's errors while reading (bad CRC, truncated data) into rejections."""

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size)
        except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as exc:
            raise MalformedReport(f"corrupt zip member ({exc})") from None


class _SkipLeading(Wrapper):
    """Drops whitespace and NULs before the first '<' (reporters prepend them)."""

    def __init__(self, raw: ByteStream) -> None:
        super().__init__(raw)
        self._started = False

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size if size and size > 0 else 65536)
        while not self._started and chunk:
            bom = b""
            for mark in _BOMS[:1]:
                if chunk.startswith(mark):
                    bom, chunk = mark, chunk[len(mark):]
            stripped = chunk.lstrip(b" \t\r\n\x00")
            if stripped:
                self._started = True
                return bom + stripped
            chunk = self._raw.read(size if size and size > 0 else 65536)
        return chunk


def _bytes_opener(data: bytes) -> Opener:
    return lambda: io.BytesIO(data)


def _seekable(opener: Opener, limits: Limits, path: str) -> IO[bytes]:
    """Spool a stream to a seekable file (zip needs its central directory)."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - returned open
    with opener() as stream:
        total = 0
        while chunk := stream.read(256 * 1024):
            total += len(chunk)
            if total > limits.max_decompressed_bytes:
                spool.close()
                raise LimitExceeded(f"zip archive exceeds the limit of {limits.max_decompressed_bytes} bytes")
            spool.write(chunk)
    spool.seek(0)
    return spool


def _lines(stream: ByteStream, cap: int) -> Iterator[bytes]:
    """Lines of a stream, read in bounded chunks; no line longer than ``cap``."""
    pieces: list[bytes] = []  # the current line so far, never re-scanned
    size = 0
    while chunk := stream.read(65536):
        *lines, tail = chunk.split(b"\n")
        for line in lines:
            pieces.append(line)
            yield b"".join(pieces) + b"\n"
            pieces, size = [], 0
        pieces.append(tail)
        size += len(tail)
        if size > cap:
            raise LimitExceeded(f"mbox line longer than the limit of {cap} bytes")
    if size:
        yield b"".join(pieces)


def split_mbox(opener: Opener, limits: Limits) -> Iterator[bytes]:
    """Split an mbox (RFC 4155) into messages, unescaping ``>From `` lines."""
    current: list[bytes] = []
    size = 0
    after_blank = True
    with opener() as stream:
        for line in _lines(stream, limits.max_mime_bytes):
            if line.startswith(b"From ") and after_blank:
                if current:
                    yield b"".join(current)
                current, size = [], 0
                continue
            after_blank = not line.strip(b"\r\n")
            if _MBOX_QUOTED.match(line):
                line = line[1:]
            size += len(line)
            if size > limits.max_mime_bytes:
                raise LimitExceeded(f"mbox message exceeds the limit of {limits.max_mime_bytes} bytes")
            current.append(line)
    if current:
        yield b"".join(current)


def unwrap(path: str, opener: Opener, limits: Limits) -> Iterator[Payload | Rejection]:
    """Yield every report payload in an input, and a rejection for each bad part."""
    yield from _Unwrapper(limits).walk(path, opener, 0)
