"""DMARC failure reports: RFC 6591 (ARF auth-failure) and RFC 9991.

A report is a ``multipart/report`` mail with a ``message/feedback-report``
part (RFC 5965 section 3) holding header-like fields, followed by the
reported message or its headers (``message/rfc822`` / ``text/rfc822-headers``).
Some reporters (Exim among them) send only text: the fields are then read
from the human-readable part and the copied headers.
"""

from __future__ import annotations

import base64
import email
import email.policy
import ipaddress
import quopri
import re
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parseaddr, parsedate_to_datetime

from dmarcpilot.reports.errors import LimitExceeded, MalformedReport, NotAReport
from dmarcpilot.reports.model import FailureReport, IPAddress

_TEXT_FIELDS = {
    "sender domain": "reported-domain",
    "sender ip address": "source-ip",
    "received date": "arrival-date",
}
_TEXT_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z ]+?)\s*:\s*(.+?)\s*$")
_HEADER_COPY = re.compile(r"^-+ This is a copy of the headers.*$", re.IGNORECASE | re.MULTILINE)


def parse_failure_report(data: bytes) -> FailureReport:
    """Parse a failure report mail (RFC 6591 section 3 fields)."""
    message = parse_mail(data)
    fields: dict[str, list[str]] = {}
    sample: Message | None = None
    text_part: str | None = None
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/feedback-report":
            fields = _feedback_fields(part)
        elif ctype == "message/rfc822" and sample is None:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                sample = inner[0]
        elif ctype == "text/rfc822-headers" and sample is None:
            sample = email.message_from_bytes(_decoded(part), policy=email.policy.compat32)
        elif ctype == "text/plain" and text_part is None and not part.get_filename():
            text_part = _decoded(part).decode("utf-8", "replace")
    if not fields:
        if text_part is None:
            raise NotAReport("failure report without a feedback-report part or text")
        fields, sample = _fields_from_text(text_part)
    feedback_type = _first(fields, "feedback-type") or ("auth-failure" if fields else None)
    if not fields or feedback_type is None:
        raise NotAReport("failure report without recognisable fields")
    return _build(fields, feedback_type, sample, message)


def parse_mail(data: bytes) -> Message:
    """Parse a mail; MIME nested past Python's recursion limit is a limit, not a crash."""
    try:
        message = email.message_from_bytes(data, policy=email.policy.compat32)
        list(message.walk())
    except RecursionError:
        raise LimitExceeded("MIME parts nested deeper than the parser's limit") from None
    return message


def _decoded(part: Message) -> bytes:
    body = part.get_payload(decode=True)
    if isinstance(body, bytes):
        return body
    raw = part.get_payload()
    return raw.encode("utf-8", "replace") if isinstance(raw, str) else b""


def _feedback_fields(part: Message) -> dict[str, list[str]]:
    """The feedback-report body is a header block (RFC 5965 section 3.1)."""
    payload = part.get_payload()
    if isinstance(payload, list):  # compat32 parses message/* bodies as messages
        raw = "".join(m.as_string() for m in payload if isinstance(m, Message))
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding == "base64":
            raw = base64.b64decode(raw.encode("ascii", "ignore")).decode("utf-8", "replace")
        elif encoding == "quoted-printable":
            raw = quopri.decodestring(raw.encode("utf-8", "replace")).decode("utf-8", "replace")
        block = raw
    else:
        block = _decoded(part).decode("utf-8", "replace")
    parsed = email.message_from_string(block.lstrip("\r\n"), policy=email.policy.compat32)
    fields: dict[str, list[str]] = {}
    for key, value in parsed.items():
        fields.setdefault(key.lower(), []).append(_collapse(str(value)))
    return fields


def _fields_from_text(text: str) -> tuple[dict[str, list[str]], Message | None]:
    fields: dict[str, list[str]] = {}
    body = _HEADER_COPY.split(text, maxsplit=1)[0]
    for line in body.splitlines():
        match = _TEXT_LINE.match(line)
        if match and match.group(1).lower() in _TEXT_FIELDS:
            fields.setdefault(_TEXT_FIELDS[match.group(1).lower()], []).append(match.group(2))
    sample = None
    copy = _HEADER_COPY.search(text)
    if copy:
        headers = text[copy.end():].lstrip("\r\n")
        sample = email.message_from_string(headers, policy=email.policy.compat32)
        results = sample.get_all("Authentication-Results") or []
        if results:
            fields["authentication-results"] = [_collapse(str(results[0]))]
    return fields, sample


def _collapse(value: str) -> str:
    return " ".join(value.split())


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    if not values:
        return None
    return values[0].strip() or None


def _lower(fields: dict[str, list[str]], name: str) -> str | None:
    value = _first(fields, name)
    return None if value is None else value.lower()


def _list(fields: dict[str, list[str]], name: str, lower: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    for value in fields.get(name, []):
        for item in value.split(","):
            item = item.strip().strip("<>").strip()
            if item:
                out.append(item.lower() if lower else item)
    return tuple(out)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _ip(value: str | None) -> IPAddress | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        raise MalformedReport(f"failure report: Source-IP {value[:64]!r} is not an IP address") from None


def _decode_words(text: str) -> str:
    """RFC 2047 encoded words to text; undecodable input is kept as it is."""
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeError, LookupError, ValueError):
        return text


def _header(message: Message | None, name: str) -> str | None:
    if message is None:
        return None
    value = message.get(name)
    if value is None:
        return None
    text = _collapse(str(value))
    if "=?" in text:
        if name.lower() == "from":
            display, address = parseaddr(text)
            text = f"{_decode_words(display)} <{address}>" if display else address
        else:
            text = _collapse(_decode_words(text))
    return text or None


def _build(fields: dict[str, list[str]], feedback_type: str, sample: Message | None,
           report: Message) -> FailureReport:
    mail_from = _first(fields, "original-mail-from")
    headers = None
    if sample is not None:
        headers = "".join(f"{k}: {v}\n" for k, v in sample.items())
    return FailureReport(
        feedback_type=feedback_type.lower(),
        user_agent=_first(fields, "user-agent"),
        version=_first(fields, "version"),
        arrival_date=_date(_first(fields, "arrival-date") or _first(fields, "received-date")),
        source_ip=_ip(_first(fields, "source-ip")),
        reported_domain=_lower(fields, "reported-domain"),
        original_mail_from=mail_from.strip("<>").strip() or None if mail_from else None,
        original_rcpt_to=_list(fields, "original-rcpt-to"),
        auth_failure=_list(fields, "auth-failure", lower=True),
        delivery_result=_lower(fields, "delivery-result"),
        dkim_domain=_lower(fields, "dkim-domain"),
        dkim_selector=_first(fields, "dkim-selector"),
        dkim_identity=_first(fields, "dkim-identity"),
        spf_dns=_first(fields, "spf-dns"),
        identity_alignment=_lower(fields, "identity-alignment"),
        authentication_results=_first(fields, "authentication-results"),
        sample_subject=_header(sample, "Subject"),
        sample_from=_header(sample, "From"),
        sample_message_id=_header(sample, "Message-ID"),
        sample_headers=headers,
        reporter=_header(report, "From"),
        report_date=_date(_header(report, "Date")),
    )
