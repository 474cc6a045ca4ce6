"""The SMTP TLS Reporting record (``_smtp._tls.DOMAIN`` TXT) as a value: RFC 8460 §3."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from dmarcpilot.records.errors import RecordError
from dmarcpilot.records.names import a_label, mailto_domain
from dmarcpilot.records.taglist import TagSyntax, parse_tags, require_version, split_list

VERSION = "TLSRPTv1"

# RFC 8460 §3: tlsrpt-ext-name = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
_SYNTAX = TagSyntax(rfc="RFC 8460 §3", name=re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}"),
                    fold_case=False, empty_values=False)


def record_name(domain: str) -> str:
    """Where the TLS-RPT record lives: ``_smtp._tls.DOMAIN`` (RFC 8460 §3)."""
    return f"_smtp._tls.{a_label(domain)}"


def _check_uri(uri: str) -> None:
    """RFC 8460 §3: each rua URI is mailto: (an address) or https: (a host); ',' and ';' percent-encoded."""
    if any(c in uri for c in " \t,;") or not uri.isascii() or not uri.isprintable():
        raise RecordError("rua", f"RFC 8460 §3: spaces, ',' and ';' must be percent-encoded in a rua URI "
                                 f"(got {uri!r})")
    scheme = uri.partition(":")[0].lower()
    if scheme == "mailto":
        if mailto_domain(uri) is None:
            raise RecordError("rua", f"RFC 8460 §3 / RFC 6068 §2: a mailto: URI needs an address user@domain "
                                     f"(got {uri!r})")
    elif scheme == "https":
        if not urllib.parse.urlsplit(uri).hostname:
            raise RecordError("rua", f"RFC 8460 §3: an https: URI needs a host (got {uri!r})")
    else:
        raise RecordError("rua", f"RFC 8460 §3: rua URIs are mailto: or https: (got {uri!r})")


@dataclass(frozen=True, slots=True)
class TlsRptRecord:
    """``v=TLSRPTv1; rua=URI[,URI...]``: where to send TLS reports. Extensions are ignored on parse."""

    rua: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.rua:
            raise RecordError("rua", "RFC 8460 §3: rua= names one or more URIs")
        for uri in self.rua:
            _check_uri(uri)
        if len(set(self.rua)) != len(self.rua):
            raise RecordError("rua", "RFC 8460 §3: each rua URI is listed once")

    @classmethod
    def from_text(cls, text: str) -> TlsRptRecord:
        pairs = parse_tags(text, _SYNTAX)
        require_version(pairs, "v", VERSION, "RFC 8460 §3")
        values = dict(pairs)
        if "rua" not in values:
            raise RecordError("rua", "RFC 8460 §3: rua= is required")
        uris = split_list(values["rua"], ",")
        if any(not uri for uri in uris):
            raise RecordError("rua", f"RFC 8460 §3: rua= is a comma-separated list of URIs, none empty "
                                     f"(got {values['rua']!r})")
        return cls(tuple(uris))

    def to_text(self) -> str:
        return f"v={VERSION}; rua={','.join(self.rua)}"
