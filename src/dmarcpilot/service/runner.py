"""The long-running service: every configured source, then the scheduled jobs, in one loop.

One thread does all the ingesting (one writer for the store); the SMTP
receiver answers in its own thread and only writes to the spool, then wakes
the loop through a pipe. Between passes the loop waits in IMAP IDLE
(RFC 2177) on every mailbox that offers it, or sleeps until the next poll,
job or wake-up.

Signals: SIGTERM (and SIGINT) ask the loop to stop; the current batch (IMAP
batch, spooled message, watched file, job) finishes, then the sources close
and ``run`` returns. SIGHUP reloads the configuration between passes; a
configuration that does not load is logged and the old one kept. When the
store cannot be reached, every input stays where it is (spool, folder,
mailbox) and the loop tries again after ``reconnect_delay``.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import sqlalchemy as sa

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.ingest.pipeline import STORE_UNAVAILABLE, Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.service.jobs import Schedule
from dmarcpilot.settings import AppSettings
from dmarcpilot.sources.imap import ImapAccount, ImapError, ImapMailbox, collect, wait_for_mail
from dmarcpilot.sources.smtp import SmtpReceiver, drain_spool
from dmarcpilot.sources.watch import DirectoryWatcher

log = logging.getLogger(__name__)


@dataclass
class ServiceStats:
    """What the service did since it started (printed when it exits)."""

    inputs: int = 0
    reports_ingested: int = 0
    reports_duplicate: int = 0
    rejected: int = 0
    imap_archived: int = 0
    imap_errored: int = 0
    spool_ingested: int = 0
    spool_failed: int = 0
    files_ingested: int = 0
    files_failed: int = 0
    imap_failures: int = 0
    store_outages: int = 0
    reloads: int = 0
    jobs: dict[str, int] = field(default_factory=dict)
    job_failures: dict[str, int] = field(default_factory=dict)

    def absorb(self, summary: IngestSummary) -> None:
        self.inputs += summary.inputs
        self.reports_ingested += summary.reports_ingested
        self.reports_duplicate += summary.reports_duplicate
        self.rejected += len(summary.rejected)

    def to_dict(self) -> dict[str, Any]:
        return {k: (dict(v) if isinstance(v, dict) else v) for k, v in self.__dict__.items()}


@dataclass
class _Mailbox:
    account: ImapAccount
    connection: ImapMailbox | None = None
    due: float = 0.0


class Service:
    def __init__(self, engine: sa.Engine, load: Callable[[], AppSettings], ip_databases: list[Path]) -> None:
        self.engine = engine
        self._load = load
        self.settings = load()
        self.ip_databases = ip_databases
        self.ingestor = Ingestor(engine)
        self.stats = ServiceStats()
        self.schedule = Schedule()
        self._outage_until = 0.0  # monotonic time before which the store is not tried again
        self._receiver: SmtpReceiver | None = None
        self._watchers: list[DirectoryWatcher] = []
        self._watch_due = 0.0
        self._mailboxes: list[_Mailbox] = []
        self._stopping = False
        self._reload = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # -- control -------------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping = True
        self.wake()

    def reload(self) -> None:
        self._reload = True
        self.wake()

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe wakes the loop just as well
            os.write(self._wake_w, b"\0")

    def should_stop(self) -> bool:
        return self._stopping

    def install_signals(self) -> None:
        def on_stop(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self.reload()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    # -- the loop ------------------------------------------------------------------------

    def run(self) -> ServiceStats:
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every connection at INFO
        self._start_sources()
        try:
            while not self._stopping:
                if self._reload:
                    self._apply_reload()
                self._tick()
                if not self._stopping and not self._reload:
                    self._wait()
        finally:
            self._stop_sources()
            self.stats.jobs, self.stats.job_failures = dict(self.schedule.runs), dict(self.schedule.failures)
            os.close(self._wake_r)
            os.close(self._wake_w)
        return self.stats

    def _tick(self) -> None:
        if time.monotonic() < self._outage_until:
            return
        try:
            self._collect()
        except STORE_UNAVAILABLE as exc:
            delay = self.settings.service.reconnect_delay
            log.error("the store is unavailable (%s); every input stays where it is; trying again in %.0fs",
                      str(exc).splitlines()[0], delay)
            self.stats.store_outages += 1
            self._outage_until = time.monotonic() + delay

    def _collect(self) -> None:
        self._drain_spool()
        now = time.monotonic()
        if self._watchers and now >= self._watch_due:
            self._poll_watched()
            self._watch_due = now + self.settings.service.poll_interval
        for mailbox in self._mailboxes:
            if not self._stopping and time.monotonic() >= mailbox.due:
                self._imap_pass(mailbox)
        self.schedule.run_due(self.engine, self.settings, self.ip_databases, self.should_stop)

    def _wait(self) -> None:
        now = time.monotonic()
        if now < self._outage_until:  # only a signal or the end of the pause wakes the loop
            select.select([self._wake_r], [], [], self._outage_until - now)
            return
        deadlines = [m.due for m in self._mailboxes]
        deadlines += [self._watch_due] if self._watchers else []
        deadlines += [d for d in (self.schedule.next_due(),) if d is not None]
        timeout = max(0.0, min(deadlines, default=now + 3600) - now)
        idling = [m for m in self._mailboxes if m.connection is not None and m.connection.supports_idle]
        if idling and timeout > 0:
            self._idle(idling, timeout)
        elif timeout > 0:
            select.select([self._wake_r], [], [], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_r, 4096):
                pass

    def _idle(self, idling: list[_Mailbox], timeout: float) -> None:
        connections = [m.connection for m in idling if m.connection is not None]
        try:
            woken = wait_for_mail(connections, timeout, [self._wake_r])
        except (ImapError, imaplib.IMAP4.error, OSError) as exc:
            log.warning("IMAP connection lost while idle: %s", exc)
            for mailbox in idling:
                self._disconnect(mailbox, retry_in=0.0)
            return
        for index in woken:
            idling[index].due = 0.0

    # -- sources -------------------------------------------------------------------------

    def _start_sources(self) -> None:
        settings = self.settings
        if settings.receiver is not None:
            self._receiver = SmtpReceiver(settings.receiver, on_spooled=self.wake)
            removed = self._receiver.spool.clean_tmp()
            if removed:
                log.info("removed %d unfinished deliveries from the spool", removed)
            self._receiver.start()
        self._watchers = [DirectoryWatcher(config) for config in settings.watch]
        self._watch_due = 0.0
        self._mailboxes = [_Mailbox(account) for account in settings.imap]
        self.schedule.configure(settings, time.monotonic())

    def _stop_sources(self) -> None:
        if self._receiver is not None:
            self._receiver.stop()
            self._receiver = None
        for mailbox in self._mailboxes:
            self._disconnect(mailbox, retry_in=0.0)

    def _apply_reload(self) -> None:
        self._reload = False
        try:
            settings = self._load()
        except DmarcpilotError as exc:
            log.error("configuration not reloaded, the old one stays: %s", exc)
            return
        self._stop_sources()
        self.settings = settings
        try:
            self._start_sources()
        except DmarcpilotError as exc:
            log.error("after reload: %s", exc)
        self.stats.reloads += 1
        log.info("configuration reloaded")

    def _drain_spool(self) -> None:
        if self._receiver is None:
            return
        summary = IngestSummary()
        result = drain_spool(self._receiver.spool, self.ingestor, summary, self.should_stop)
        self.stats.absorb(summary)
        self.stats.spool_ingested += result.ingested
        self.stats.spool_failed += result.failed

    def _poll_watched(self) -> None:
        for watcher in self._watchers:
            if self._stopping:
                return
            summary = IngestSummary()
            result = watcher.poll(self.ingestor, summary, self.should_stop)
            self.stats.absorb(summary)
            self.stats.files_ingested += result.ingested
            self.stats.files_failed += result.failed

    def _imap_pass(self, mailbox: _Mailbox) -> None:
        summary = IngestSummary()
        try:
            if mailbox.connection is None:
                mailbox.connection = ImapMailbox(mailbox.account).open()
            result = collect(mailbox.connection, self.ingestor, summary, self.should_stop)
        except (ImapError, imaplib.IMAP4.error, OSError) as exc:
            log.warning("%s: %s; trying again in %.0fs", mailbox.account.label, exc,
                        self.settings.service.reconnect_delay)
            self.stats.imap_failures += 1
            self._disconnect(mailbox, retry_in=self.settings.service.reconnect_delay)
            return
        finally:
            self.stats.absorb(summary)
        self.stats.imap_archived += result.archived
        self.stats.imap_errored += result.errored
        # Mail that came during the pass is announced to commands imaplib ran for us: look again at once.
        mailbox.due = time.monotonic() + (0.0 if result.fetched else self.settings.service.poll_interval)

    def _disconnect(self, mailbox: _Mailbox, retry_in: float) -> None:
        connection, mailbox.connection = mailbox.connection, None
        if connection is not None:
            connection.close()
        mailbox.due = time.monotonic() + retry_in
