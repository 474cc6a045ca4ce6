"""Domain-name checks shared by the record modules (syntax only, no DNS)."""

from __future__ import annotations

import re
import urllib.parse

MAX_NAME = 253  # RFC 1035 §2.3.4: 255 octets on the wire, 253 characters in text
MAX_LABEL = 63
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


def is_hostname(name: str) -> bool:
    """Dot-separated LDH labels, 1-63 characters each, 253 in all (RFC 1035 §2.3.1, RFC 5321 §4.1.2)."""
    if not name or len(name) > MAX_NAME:
        return False
    return all(_LABEL.fullmatch(label) for label in name.split("."))


_SERVICE_LABEL = re.compile(r"_?(?!-)[A-Za-z0-9-]{1,62}(?<!-)")


def is_service_name(name: str) -> bool:
    """A host name whose labels may also start with ``_`` (``_dmarc``, ``_domainkey``: RFC 8552 §2)."""
    if not name or len(name) > MAX_NAME:
        return False
    return all(_SERVICE_LABEL.fullmatch(label) for label in name.split("."))


def a_label(domain: str) -> str:
    """Lower-case A-label form of a domain (RFC 5890), without a trailing dot."""
    name = domain.strip().removesuffix(".").lower()
    return name if name.isascii() else name.encode("idna").decode("ascii")


def mailto_domain(uri: str) -> str | None:
    """The domain of a ``mailto:user@domain`` URI's single address (RFC 6068 §2), or None if it has none."""
    scheme, _, rest = uri.partition(":")
    if scheme.lower() != "mailto":
        return None
    local, at, domain = urllib.parse.unquote(rest.partition("?")[0]).rpartition("@")
    if not at or not local or "." not in domain or not is_hostname(domain):
        return None
    return domain.lower()
