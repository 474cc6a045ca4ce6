"""The SMTP receiver with a real client (smtplib): recipients, size limit, STARTTLS, spool, worker."""

from __future__ import annotations

import os
import smtplib
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dmarcpilot.errors import ConfigError
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary
from dmarcpilot.sources.smtp import SmtpReceiver, SmtpReceiverConfig, Spool, drain_spool
from dmarcpilot.store.schema import aggregate_reports
from tests.hostile_inputs import garbage, mail
from tests.sources.dovecot import free_port, self_signed
from tests.sources.mailgen import crlf, hostile_mails, report_mail

LIMIT = 64 * 1024


def config(tmp_path: Path, **options: object) -> SmtpReceiverConfig:
    values: dict[str, object] = {"spool_dir": tmp_path / "spool", "port": free_port(),
                                 "recipients": ("rua@example.com", "@reports.example.org"),
                                 "max_message_bytes": LIMIT, "hostname": "mx.test"}
    values.update(options)
    return SmtpReceiverConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[SmtpReceiver]:
    server = SmtpReceiver(config(tmp_path)).start()
    yield server
    server.stop()


def client(server: SmtpReceiver) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.config.port, timeout=30)


def stored(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(aggregate_reports)).scalar_one())


def test_only_configured_recipients_are_accepted(receiver: SmtpReceiver) -> None:
    with client(receiver) as smtp:
        refused = smtp.sendmail("dmarc@reporter.example", ["RUA@example.com", "postmaster@example.com",
                                                          "anyone@Reports.Example.org"], report_mail("r1"))
        assert refused == {"postmaster@example.com": (550, b"5.1.1 <postmaster@example.com>: no such report "
                                                             b"address here")}
        with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
            smtp.sendmail("dmarc@reporter.example", ["ceo@example.com"], report_mail("r2"))
        assert info.value.recipients["ceo@example.com"][0] == 550
    assert len(receiver.spool.pending()) == 1


def test_size_limit_is_announced_and_enforced(receiver: SmtpReceiver) -> None:
    big = crlf(mail("big", attachments=[("big.xml.gz", "application/gzip", garbage(LIMIT))]))
    assert len(big) > LIMIT
    with client(receiver) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and int(smtp.esmtp_features["size"]) == LIMIT  # RFC 1870
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # MAIL FROM ... SIZE=n
            smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], big)
        assert declared.value.smtp_code == 552
        smtp.rset()
        # a client that does not declare the size is refused after DATA
        assert smtp.mail("dmarc@reporter.example")[0] == 250
        assert smtp.rcpt("rua@example.com")[0] == 250
        assert smtp.data(big)[0] == 552
    assert receiver.spool.pending() == []


def test_250_means_the_message_is_in_the_spool(receiver: SmtpReceiver, store: sa.Engine) -> None:
    mail = report_mail("spooled")
    with client(receiver) as smtp:
        smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], mail)
        # acknowledged: on disk in new/, nothing left in tmp/, before any worker ran
        pending = receiver.spool.pending()
        assert len(pending) == 1
        assert list(receiver.spool.tmp.iterdir()) == []
    data = pending[0].read_bytes()
    assert data.startswith(b"Return-Path: <dmarc@reporter.example>\r\nReceived: from ")
    assert b"by mx.test (dmarcpilot) with ESMTP for <rua@example.com>;" in data
    assert data.endswith(mail)

    result = drain_spool(receiver.spool, Ingestor(store), IngestSummary())
    assert (result.ingested, result.failed) == (1, 0)
    assert stored(store) == 1
    assert receiver.spool.pending() == []


def test_rejected_messages_move_to_the_error_folder(receiver: SmtpReceiver, store: sa.Engine) -> None:
    hostile = [crlf(m) for _, m in hostile_mails() if len(m) < LIMIT and b"\nSubject: hostile" in m][:5]
    with client(receiver) as smtp:
        for message in [report_mail("ok-1"), *hostile, report_mail("ok-2")]:
            smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], message)
    summary = IngestSummary()
    result = drain_spool(receiver.spool, Ingestor(store), summary)
    assert (result.ingested, result.failed) == (2, len(hostile))
    assert len(list(receiver.spool.error.iterdir())) == len(hostile)
    assert receiver.spool.pending() == []
    assert stored(store) == 2


def test_starttls_offered_and_required(tmp_path: Path, store: sa.Engine) -> None:
    tls = self_signed(tmp_path)
    server = SmtpReceiver(config(tmp_path, tls_cert=tls.cert, tls_key=tls.key, require_starttls=True)).start()
    try:
        with client(server) as smtp:
            smtp.ehlo()
            assert smtp.has_extn("starttls")
            assert smtp.mail("dmarc@reporter.example")[0] == 530  # RFC 3207 §4: must issue STARTTLS first
            smtp.starttls(context=ssl.create_default_context(cafile=str(tls.cert)))
            smtp.sendmail("dmarc@reporter.example", ["rua@example.com"], report_mail("tls"))
        [spooled] = server.spool.pending()
        assert b"with ESMTPS for <rua@example.com>" in spooled.read_bytes()
    finally:
        server.stop()


def test_stale_tmp_files_are_cleaned_but_fresh_ones_kept(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool").prepare()
    (spool.tmp / "old").write_bytes(b"half")
    (spool.tmp / "fresh").write_bytes(b"half")
    long_ago = time.time() - 40 * 3600
    os.utime(spool.tmp / "old", (long_ago, long_ago))
    assert spool.clean_tmp() == 1
    assert sorted(p.name for p in spool.tmp.iterdir()) == ["fresh"]


def test_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="recipient"):
        SmtpReceiverConfig(spool_dir=Path("/nonexistent"), recipients=())
    with pytest.raises(ConfigError, match="certificate and a key"):
        SmtpReceiverConfig(spool_dir=Path("/x"), recipients=("a@b",), tls_cert=Path("/c"))
