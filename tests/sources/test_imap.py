"""The IMAP source against a real Dovecot: batches, archive/error folders, TLS, XOAUTH2, IDLE."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from email.parser import BytesParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmarcpilot.errors import ConfigError
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.sources.imap import (
    ImapAccount,
    ImapAuth,
    ImapError,
    ImapMailbox,
    ImapSecurity,
    Secret,
    collect,
    collect_once,
    encode_mailbox,
    wait_for_mail,
)
from dmarcpilot.store.schema import aggregate_reports, inputs
from tests.sources import dovecot as dv
from tests.sources.mailgen import hostile_mails, report_mails


@pytest.fixture
def dovecot() -> Iterator[dv.Dovecot]:
    with dv.running_dovecot() as server:
        yield server


@pytest.fixture
def dovecot_tls() -> Iterator[dv.Dovecot]:
    with dv.running_dovecot(tls=True) as server:
        yield server


def account(server: dv.Dovecot, **options: object) -> ImapAccount:
    values: dict[str, object] = {"host": "127.0.0.1", "port": server.port, "user": dv.USER,
                                 "secret": Secret(dv.PASSWORD), "security": ImapSecurity.PLAIN}
    values.update(options)
    return ImapAccount(**values)  # type: ignore[arg-type]


def stored_reports(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(aggregate_reports)).scalar_one())


def test_hundreds_of_reports_and_hostile_mails_end_in_the_right_folder(dovecot: dv.Dovecot,
                                                                       store: sa.Engine) -> None:
    good = report_mails(300)
    hostile = hostile_mails()
    mixed = [m for pair in zip(good[:len(hostile)], (m for _, m in hostile), strict=True) for m in pair]
    dovecot.append("INBOX", mixed + good[len(hostile):])

    summary = IngestSummary()
    result = collect_once(account(dovecot, batch_size=40), Ingestor(store), summary)

    assert result.fetched == 300 + len(hostile)
    assert (result.archived, result.errored) == (300, len(hostile))
    assert dovecot.count("INBOX") == 0
    assert dovecot.count("dmarcpilot-archive") == 300
    assert dovecot.count("dmarcpilot-error") == len(hostile)
    # the good report beside a bad one is stored too; its mail still goes to the error folder
    assert stored_reports(store) == 301
    assert summary.reports_ingested == 301
    errors = dovecot.messages("dmarcpilot-error")
    subjects = sorted(BytesParser().parsebytes(m, headersonly=True).get("Subject", "") for m in errors)
    assert subjects == sorted(BytesParser().parsebytes(m, headersonly=True).get("Subject", "") for _, m in hostile)
    assert {"one good, one bad", "hostile billion-laughs", "see you on Monday"} <= set(subjects)


def test_a_second_pass_finds_nothing_and_a_resent_mail_is_not_doubled(dovecot: dv.Dovecot, store: sa.Engine) -> None:
    mails = report_mails(20, prefix="again")
    dovecot.append("INBOX", mails)
    first = collect_once(account(dovecot), Ingestor(store), IngestSummary())
    assert first.archived == 20

    assert collect_once(account(dovecot), Ingestor(store), IngestSummary()).fetched == 0

    dovecot.append("INBOX", mails[:5])  # the reporter sends the same mails again
    summary = IngestSummary()
    again = collect_once(account(dovecot), Ingestor(store), summary)
    assert (again.archived, summary.inputs_duplicate, summary.reports_ingested) == (5, 5, 0)
    assert stored_reports(store) == 20
    assert dovecot.count("dmarcpilot-archive") == 25


def test_origin_is_the_imap_url_of_the_message(dovecot: dv.Dovecot, store: sa.Engine) -> None:
    dovecot.append("INBOX", report_mails(1, prefix="origin"))
    collect_once(account(dovecot), Ingestor(store), IngestSummary())
    with store.connect() as conn:
        origin = conn.execute(sa.select(inputs.c.origin)).scalar_one()
    assert origin.startswith(f"imap://{dv.USER}@127.0.0.1:{dovecot.port}/INBOX;UIDVALIDITY=")
    assert origin.endswith("/;UID=1")


def test_batches_and_stop_between_batches(dovecot: dv.Dovecot, store: sa.Engine) -> None:
    dovecot.append("INBOX", report_mails(30, prefix="batch"))
    calls = []

    def stop_after_first() -> bool:
        calls.append(1)
        return len(calls) > 1

    with ImapMailbox(account(dovecot, batch_size=7)) as mailbox:
        result = collect(mailbox, Ingestor(store), IngestSummary(), stop_after_first)
    assert (result.fetched, result.archived, result.interrupted) == (7, 7, True)
    assert dovecot.count("INBOX") == 23
    assert stored_reports(store) == 7


def test_without_move_copies_then_expunges_only_its_own_messages(dovecot: dv.Dovecot, store: sa.Engine) -> None:
    dovecot.append("INBOX", report_mails(12, prefix="copy"))
    mailbox = ImapMailbox(account(dovecot, batch_size=5)).open()
    try:
        assert "MOVE" in mailbox.capabilities and "UIDPLUS" in mailbox.capabilities
        mailbox.capabilities = mailbox.capabilities - {"MOVE"}  # as on a server without RFC 6851
        result = collect(mailbox, Ingestor(store), IngestSummary())
    finally:
        mailbox.close()
    assert result.archived == 12
    assert dovecot.count("dmarcpilot-archive") == 12
    imap = dovecot.client()
    imap.select("INBOX")
    assert imap.uid("SEARCH", "ALL")[1] == [b""]  # expunged, not merely flagged
    imap.logout()


def test_starttls_with_password(dovecot_tls: dv.Dovecot, store: sa.Engine) -> None:
    assert dovecot_tls.tls is not None
    dovecot_tls.append("INBOX", report_mails(5, prefix="starttls"))
    acc = account(dovecot_tls, security=ImapSecurity.STARTTLS, ca_file=dovecot_tls.tls.cert)
    assert collect_once(acc, Ingestor(store), IngestSummary()).archived == 5


def test_imaps_with_xoauth2_bearer_token(dovecot_tls: dv.Dovecot, store: sa.Engine, tmp_path: Path) -> None:
    assert dovecot_tls.tls is not None and dovecot_tls.imaps_port is not None
    dovecot_tls.append("INBOX", report_mails(5, prefix="oauth"))
    token = tmp_path / "token"
    token.write_text(dv.TOKEN + "\n")
    acc = account(dovecot_tls, port=dovecot_tls.imaps_port, security=ImapSecurity.TLS, auth=ImapAuth.XOAUTH2,
                  secret=Secret(file=token), ca_file=dovecot_tls.tls.cert)
    assert collect_once(acc, Ingestor(store), IngestSummary()).archived == 5
    assert "method=XOAUTH2" in dovecot_tls.log()

    token.write_text("expired-token")
    with pytest.raises(ImapError, match="AUTHENTICATIONFAILED"):
        collect_once(acc, Ingestor(store), IngestSummary())


def test_tls_refuses_an_unknown_certificate(dovecot_tls: dv.Dovecot, store: sa.Engine) -> None:
    assert dovecot_tls.imaps_port is not None
    acc = account(dovecot_tls, port=dovecot_tls.imaps_port, security=ImapSecurity.TLS)  # system CAs only
    with pytest.raises(ImapError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        collect_once(acc, Ingestor(store), IngestSummary())


def test_wrong_password_is_an_imap_error(dovecot: dv.Dovecot, store: sa.Engine) -> None:
    with pytest.raises(ImapError, match=r"AUTHENTICATIONFAILED|Authentication failed"):
        collect_once(account(dovecot, secret=Secret("wrong")), Ingestor(store), IngestSummary())


def test_idle_wakes_up_when_mail_arrives(dovecot: dv.Dovecot) -> None:
    with ImapMailbox(account(dovecot)) as mailbox:
        assert mailbox.supports_idle
        timer = threading.Timer(0.5, dovecot.append, ("INBOX", report_mails(1, prefix="idle")))
        timer.start()
        started = time.monotonic()
        woken = wait_for_mail([mailbox], timeout=20)
        elapsed = time.monotonic() - started
        timer.join()
        assert woken == [0]
        assert 0.3 < elapsed < 10
        assert len(mailbox.pending_uids()) == 1  # the connection is usable after DONE


def test_idle_ends_when_woken_or_timed_out(dovecot: dv.Dovecot) -> None:
    read, write = os.pipe()
    try:
        with ImapMailbox(account(dovecot)) as mailbox:
            started = time.monotonic()
            assert wait_for_mail([mailbox], timeout=0.5) == []
            assert 0.4 < time.monotonic() - started < 5
            threading.Timer(0.3, os.write, (write, b"x")).start()
            started = time.monotonic()
            assert wait_for_mail([mailbox], timeout=30, wake_fds=[read]) == []
            assert time.monotonic() - started < 5
            mailbox.noop()
    finally:
        os.close(read)
        os.close(write)


def test_non_ascii_archive_folder(dovecot: dv.Dovecot, store: sa.Engine) -> None:
    dovecot.append("INBOX", report_mails(2, prefix="utf7"))
    collect_once(account(dovecot, archive_folder="Berichte-geprüft"), Ingestor(store), IngestSummary())
    assert dovecot.count(encode_mailbox("Berichte-geprüft")) == 2


def test_modified_utf7_examples_of_rfc3501() -> None:
    # RFC 3501 §5.1.3
    assert encode_mailbox("~peter/mail/台北/日本語") == "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
    assert encode_mailbox("A&B") == "A&-B"
    assert encode_mailbox("Entwürfe") == "Entw&APw-rfe"


def test_imap_urls() -> None:
    acc = ImapAccount.from_url("imap://rua%40example.com@mail.example.com/Reports%2FDMARC")
    assert (acc.user, acc.host, acc.folder, acc.effective_port) == ("rua@example.com", "mail.example.com",
                                                                    "Reports/DMARC", 993)
    assert acc.origin(7, 42) == "imap://rua%40example.com@mail.example.com/Reports/DMARC;UIDVALIDITY=7/;UID=42"
    assert ImapAccount.from_url("imap://u@h:1143", security=ImapSecurity.STARTTLS).effective_port == 1143
    assert ImapAccount.from_url("imap://u@h/").folder == "INBOX"
    with pytest.raises(ConfigError):
        ImapAccount.from_url("imap://u:secret@h/INBOX")
    with pytest.raises(ConfigError):
        ImapAccount.from_url("https://h/INBOX")
    assert "secret" not in repr(Secret("secret"))


def test_a_missing_dovecot_fails_naming_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dv.shutil, "which", lambda _name: None)
    monkeypatch.setattr(dv, "DOVECOT", "/nonexistent/dovecot")
    with pytest.raises(AssertionError, match="apt-get install dovecot-imapd"):
        dv.dovecot_binary()
