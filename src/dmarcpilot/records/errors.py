"""The one error type of ``records/``: a record that breaks the rule of its RFC."""

from __future__ import annotations

from dmarcpilot.errors import DmarcpilotError


class RecordError(DmarcpilotError):
    """A record text or value that breaks a rule of its standard.

    ``tag`` names the tag or field at fault (``None`` when the fault is the
    record as a whole, e.g. a missing version tag); ``rule`` is the rule
    broken, citing its RFC section, e.g. ``"RFC 9989 §4.7: p= must be none,
    quarantine or reject"``.
    """

    def __init__(self, tag: str | None, rule: str) -> None:
        where = f"tag {tag!r}" if tag is not None else "record"
        super().__init__(f"{where}: {rule}")
        self.tag = tag
        self.rule = rule
