"""Caps that keep hostile input from exhausting memory, disk or time."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Every cap on one input; each violation names the file and the cap.

    The defaults fit the largest real reports seen (Google and Microsoft send
    aggregate reports of a few hundred MiB at most once decompressed) while
    stopping zip and gzip bombs long before memory or disk is at risk.
    """

    #: Largest input file or message accepted as it arrives.
    max_input_bytes: int = 2048 * MiB
    #: Largest decompressed payload (one gzip stream or one zip member).
    max_decompressed_bytes: int = 1024 * MiB
    #: Largest decompressed / compressed ratio once past ``ratio_grace_bytes``.
    max_ratio: int = 200
    ratio_grace_bytes: int = 4 * MiB
    #: Most members read from one zip archive.
    max_zip_members: int = 64
    #: Most envelopes inside one another (mail > zip > gzip > xml is 3).
    max_nesting: int = 5
    #: Largest MIME message parsed in memory.
    max_mime_bytes: int = 64 * MiB
    #: Most MIME parts looked at in one message.
    max_mime_parts: int = 256
    #: Largest JSON (SMTP TLS) report.
    max_json_bytes: int = 64 * MiB
    #: Most messages read from one mbox file.
    max_mbox_messages: int = 1_000_000


DEFAULT_LIMITS = Limits()
