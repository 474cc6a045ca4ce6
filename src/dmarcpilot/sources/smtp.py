"""A built-in SMTP receiver for the report addresses, with a durable spool.

The receiver answers ``250`` only once the message is on disk: written to
``tmp/``, fsynced, renamed into ``new/`` and the directory fsynced (the
Maildir delivery protocol, https://cr.yp.to/proto/maildir.html). A message
acknowledged with 250 therefore survives a crash right after; the spool is
drained at the next start. The worker (``drain_spool``) removes a spooled
message only after ``Ingestor.ingest`` has returned (archived and committed),
or moves it to ``error/`` when a part was rejected.

Only the configured recipients are accepted (others: 550, RFC 5321 §3.3),
messages over the size limit are refused (552, RFC 5321 §4.5.3.1.10; the
limit is announced with the SIZE extension, RFC 1870), and STARTTLS
(RFC 3207) is offered when a certificate is configured.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from dmarcpilot.errors import ConfigError, DmarcpilotError
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary

log = logging.getLogger(__name__)

MiB = 1024 * 1024

#: Maildir convention: a file left in tmp/ for 36 hours is a failed delivery.
STALE_TMP_SECONDS = 36 * 3600


class SmtpReceiverError(DmarcpilotError):
    """The receiver could not start or the spool is unusable."""


@dataclass(frozen=True, slots=True)
class SmtpReceiverConfig:
    """Where to listen, whom to accept, where to spool."""

    spool_dir: Path
    recipients: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 2525
    max_message_bytes: int = 25 * MiB
    tls_cert: Path | None = None
    tls_key: Path | None = None
    require_starttls: bool = False
    hostname: str = ""

    def __post_init__(self) -> None:
        if not self.recipients:
            raise ConfigError("the SMTP receiver needs at least one recipient address (e.g. rua@example.com)")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ConfigError("STARTTLS needs both a certificate and a key")
        if self.require_starttls and self.tls_cert is None:
            raise ConfigError("require_starttls needs tls_cert and tls_key")

    def accepts(self, address: str) -> bool:
        """An exact address, or ``@domain`` for every address of a domain (compared case-insensitively)."""
        address = address.strip().strip("<>").lower()
        domain = address.rpartition("@")[2]
        wanted = {r.lower() for r in self.recipients}
        return address in wanted or f"@{domain}" in wanted

    def tls_context(self) -> ssl.SSLContext | None:
        if self.tls_cert is None or self.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(str(self.tls_cert), str(self.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the STARTTLS certificate {self.tls_cert}: {exc}") from None
        return context


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """A Maildir: ``tmp/`` (being written), ``new/`` (acknowledged, to ingest), ``error/`` (rejected)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp, self.new, self.error = root / "tmp", root / "new", root / "error"

    def prepare(self) -> Spool:
        try:
            for path in (self.root, self.tmp, self.new, self.root / "cur", self.error):
                path.mkdir(parents=True, exist_ok=True)
            _fsync_dir(self.root)
        except OSError as exc:
            raise SmtpReceiverError(f"cannot use the spool {self.root}: {exc.strerror or exc}") from None
        return self

    def store(self, data: bytes) -> Path:
        """Write durably, then make visible: only after this returns may the sender get 250."""
        name = f"{time.time_ns()}.{uuid.uuid4().hex}.{socket.gethostname().replace('/', '_')}"
        tmp = self.tmp / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.new / name
        os.rename(tmp, final)  # atomic on one file system
        _fsync_dir(self.new)  # the rename itself is durable
        return final

    def pending(self) -> list[Path]:
        """Acknowledged messages not ingested yet, oldest first (names start with the time)."""
        return sorted(p for p in self.new.iterdir() if p.is_file() and not p.name.startswith("."))

    # No fsync after ingest: should the unlink or rename be lost in a crash, the
    # message is ingested again at the next start, a no-op for the store.

    def done(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def failed(self, path: Path) -> None:
        os.replace(path, self.error / path.name)

    def clean_tmp(self, now: float | None = None) -> int:
        """Remove deliveries that never finished (never acknowledged, the client retries)."""
        now = time.time() if now is None else now
        removed = 0
        for path in self.tmp.iterdir():
            if now - path.stat().st_mtime > STALE_TMP_SECONDS:
                path.unlink(missing_ok=True)
                removed += 1
        return removed


class ReportHandler:
    """aiosmtpd handler: recipient filter and durable spooling."""

    def __init__(self, config: SmtpReceiverConfig, spool: Spool, on_spooled: Callable[[], None] | None = None) -> None:
        self.config = config
        self.spool = spool
        self.on_spooled = on_spooled
        self.hostname = config.hostname or socket.getfqdn()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self.config.accepts(address):
            return f"550 5.1.1 <{address}>: no such report address here"  # RFC 3463 §3.2: bad mailbox
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = self._with_trace(session, envelope)
        loop = asyncio.get_running_loop()
        try:
            path = await loop.run_in_executor(None, self.spool.store, data)
        except OSError as exc:
            log.error("cannot spool a message: %s", exc)
            return "451 4.3.0 cannot store the message now, try again later"  # RFC 5321 §4.2.3: transient
        if self.on_spooled is not None:
            self.on_spooled()
        return f"250 2.0.0 OK queued as {path.name}"

    def _with_trace(self, session: Session, envelope: Envelope) -> bytes:
        """Return-Path and Received lines (RFC 5321 §4.4: the receiving server MUST add them)."""
        content = envelope.original_content or b""
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        helo = (session.host_name or "unknown").replace("\r", "").replace("\n", "")
        tls = " with ESMTPS" if session.ssl else " with ESMTP"
        rcpt = envelope.rcpt_tos[0] if len(envelope.rcpt_tos) == 1 else None
        received = (f"Received: from {helo} ([{peer}])\r\n\tby {self.hostname} (dmarcpilot){tls}"
                    f"{f' for <{rcpt}>' if rcpt else ''};\r\n\t{format_datetime(datetime.now(UTC))}\r\n")
        sender = (envelope.mail_from or "").replace("\r", "").replace("\n", "")
        return f"Return-Path: <{sender}>\r\n{received}".encode("utf-8", "replace") + content


class SmtpReceiver:
    """The listening server (aiosmtpd runs its own event loop in a thread)."""

    def __init__(self, config: SmtpReceiverConfig, on_spooled: Callable[[], None] | None = None) -> None:
        self.config = config
        self.spool = Spool(config.spool_dir).prepare()
        self.handler = ReportHandler(config, self.spool, on_spooled)
        self._controller: Controller | None = None

    def start(self) -> SmtpReceiver:
        config = self.config
        # no AUTH: reporters deliver to the report addresses like to any MX (RFC 5321 §3.3)
        kwargs: dict[str, Any] = {"data_size_limit": config.max_message_bytes, "ident": "dmarcpilot report receiver",
                                  "auth_exclude_mechanism": ["LOGIN", "PLAIN"]}
        context = config.tls_context()
        if context is not None:
            kwargs.update(tls_context=context, require_starttls=config.require_starttls)
        controller = Controller(self.handler, hostname=config.host, port=config.port,
                                server_hostname=self.handler.hostname, **kwargs)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            raise SmtpReceiverError(f"cannot listen on {config.host}:{config.port}: {exc}") from None
        self._controller = controller
        log.info("SMTP receiver listening on %s:%d for %s", config.host, config.port, ", ".join(config.recipients))
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


@dataclass(frozen=True, slots=True)
class DrainResult:
    ingested: int = 0
    failed: int = 0
    interrupted: bool = False


def drain_spool(spool: Spool, ingestor: Ingestor, summary: IngestSummary,
                should_stop: Callable[[], bool] = lambda: False) -> DrainResult:
    """Ingest every acknowledged message; remove it (or file it under error/) once ingest returned."""
    ingested = failed = 0
    for path in spool.pending():
        if should_stop():
            return DrainResult(ingested, failed, interrupted=True)
        before = len(summary.rejected)
        ingestor.ingest(f"smtp:{path.name}", _file_opener(path), summary)
        if len(summary.rejected) > before:
            spool.failed(path)
            failed += 1
        else:
            spool.done(path)
            ingested += 1
    return DrainResult(ingested, failed)


def _file_opener(path: Path) -> Callable[[], Any]:
    return lambda: open(path, "rb")
