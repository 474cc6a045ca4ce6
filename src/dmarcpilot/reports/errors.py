"""Errors raised while turning bytes into reports."""

from __future__ import annotations

from dmarcpilot.errors import DmarcpilotError


class ReportError(DmarcpilotError):
    """An input that is not a usable report; ``reason`` is shown to people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LimitExceeded(ReportError):
    """A hostile-input cap (size, ratio, members, depth) was hit."""


class NotAReport(ReportError):
    """The content is not a DMARC, failure or TLS report."""


class MalformedReport(ReportError):
    """The content looks like a report but breaks its format."""


class RecoverableXml(MalformedReport):
    """Strict XML parsing failed in a way libxml2's recovery mode can repair."""
