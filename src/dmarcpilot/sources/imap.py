"""Report mail from an IMAP mailbox: fetch in UID batches, ingest, then file away.

The order of operations is what makes the source lossless:

1. ``UID FETCH`` with ``BODY.PEEK[]`` (RFC 3501 §6.4.5: PEEK leaves ``\\Seen``
   alone), a batch of messages at a time;
2. ``Ingestor.ingest`` for each message: when it returns, the bytes are
   archived and every report committed (``store/inputs.py``);
3. only then the message leaves the folder: ``UID MOVE`` (RFC 6851 §3.1) to
   the archive folder, or to the error folder when any part was rejected;
   without MOVE, ``UID COPY`` + ``\\Deleted`` + ``UID EXPUNGE`` (RFC 4315
   §2.1). Nothing is ever deleted without a copy elsewhere.

A crash between 2 and 3 leaves the message in place: the next pass fetches it
again and the store recognises the content hash (nothing doubled). The origin
of each message is its IMAP URL (RFC 5092 §6), stable for as long as the
folder keeps its UIDVALIDITY; idempotence does not depend on it.
"""

from __future__ import annotations

import base64
import contextlib
import enum
import imaplib
import io
import logging
import re
import select
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from dmarcpilot.errors import ConfigError, DmarcpilotError
from dmarcpilot.ingest.pipeline import Ingestor
from dmarcpilot.ingest.summary import IngestSummary

log = logging.getLogger(__name__)

#: RFC 2177 §3: the server may log the client off after 30 minutes of IDLE;
#: re-issue it before that.
MAX_IDLE_SECONDS = 25 * 60


class ImapError(DmarcpilotError):
    """The IMAP server refused something or the connection failed."""


class ImapSecurity(enum.Enum):
    TLS = "tls"  # implicit TLS, port 993 (RFC 8314 §3.3)
    STARTTLS = "starttls"  # RFC 3501 §6.2.1, port 143
    PLAIN = "plain"  # no TLS at all: loopback and tests only


class ImapAuth(enum.Enum):
    PASSWORD = "password"  # LOGIN (RFC 3501 §6.2.3)
    XOAUTH2 = "xoauth2"  # SASL XOAUTH2 bearer token (Google, Microsoft 365)


class Destination(enum.Enum):
    ARCHIVE = "archive"
    ERROR = "error"


_DEFAULT_PORT = {ImapSecurity.TLS: 993, ImapSecurity.STARTTLS: 143, ImapSecurity.PLAIN: 143}


@dataclass(frozen=True, slots=True)
class Secret:
    """A password or bearer token, given inline or read from a file at each connection.

    Tokens expire: reading the file again at each connection lets an outside
    refresher (e.g. an OAuth2 helper) replace it without a restart.
    """

    value: str | None = field(default=None, repr=False)
    file: Path | None = None

    def reveal(self) -> str:
        if self.file is not None:
            try:
                return self.file.read_text().strip()
            except OSError as exc:
                raise ConfigError(f"cannot read the secret file {self.file}: {exc.strerror or exc}") from None
        if self.value is None:
            raise ConfigError("no password or token given")
        return self.value


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """One mailbox folder to collect reports from."""

    host: str
    user: str
    secret: Secret = field(default_factory=Secret)
    folder: str = "INBOX"
    port: int | None = None
    security: ImapSecurity = ImapSecurity.TLS
    auth: ImapAuth = ImapAuth.PASSWORD
    archive_folder: str = "dmarcpilot-archive"
    error_folder: str = "dmarcpilot-error"
    batch_size: int = 50
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout: float = 60.0
    use_idle: bool = True
    name: str = ""

    @classmethod
    def from_url(cls, url: str, **options: object) -> ImapAccount:
        """``imap://USER@HOST[:PORT]/FOLDER`` (RFC 5092 §3); ``imaps://`` means implicit TLS."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
            raise ConfigError(f"not an IMAP URL of the form imap://USER@HOST[:PORT]/FOLDER: {url!r}")
        if parts.password:
            raise ConfigError("put the password in a file (--password-file), not in the URL")
        folder = unquote(parts.path.lstrip("/")).split(";", 1)[0] or "INBOX"
        values: dict[str, object] = {"host": parts.hostname, "user": unquote(parts.username), "folder": folder,
                                     "port": parts.port}
        if parts.scheme == "imaps":
            values["security"] = ImapSecurity.TLS
        values.update(options)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_PORT[self.security]

    @property
    def label(self) -> str:
        return self.name or f"{self.user}@{self.host}/{self.folder}"

    def origin(self, uidvalidity: int, uid: int) -> str:
        """The message's IMAP URL (RFC 5092 §6: ``;UIDVALIDITY=`` and ``/;UID=``)."""
        port = f":{self.port}" if self.port else ""
        return (f"imap://{quote(self.user, safe='')}@{self.host}{port}/{quote(self.folder)}"
                f";UIDVALIDITY={uidvalidity}/;UID={uid}")


def encode_mailbox(name: str) -> str:
    """Modified UTF-7 for mailbox names (RFC 3501 §5.1.3)."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in name:
        if 0x20 <= ord(char) <= 0x7E:
            flush()
            out.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return "".join(out)


@dataclass(frozen=True, slots=True)
class PassResult:
    """What one pass over a folder did."""

    fetched: int = 0
    archived: int = 0
    errored: int = 0
    interrupted: bool = False

    def __add__(self, other: PassResult) -> PassResult:
        return PassResult(self.fetched + other.fetched, self.archived + other.archived,
                          self.errored + other.errored, self.interrupted or other.interrupted)


_UID = re.compile(rb"\bUID (\d+)")
_EXISTS = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.IGNORECASE)


def tls_context(account: ImapAccount) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(account.ca_file) if account.ca_file else None)
    if not account.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class _XOAuth2:
    """The XOAUTH2 initial response; an empty reply to an error challenge (Google's SASL dialect)."""

    def __init__(self, user: str, token: str) -> None:
        self._first = f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
        self._sent = False

    def __call__(self, _challenge: bytes) -> bytes:
        if self._sent:
            return b""  # the server sent a JSON error as a challenge; answering empty ends the exchange
        self._sent = True
        return self._first


class ImapMailbox:
    """One authenticated connection with the folder selected."""

    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self._imap: imaplib.IMAP4 | None = None
        self.capabilities: frozenset[str] = frozenset()
        self.uidvalidity = 0
        self._idle_tag: bytes | None = None
        self._tags = 0

    # -- connection ---------------------------------------------------------------------

    def open(self) -> ImapMailbox:
        account = self.account
        try:
            self._imap = self._connect()
            self._authenticate(self._imap)
            self.capabilities = self._capabilities()
            for folder in (account.archive_folder, account.error_folder):
                self._ensure_folder(folder)
            self._select()
        except (imaplib.IMAP4.error, OSError) as exc:
            self.close()
            raise ImapError(f"{account.label}: {exc}") from None
        return self

    def __enter__(self) -> ImapMailbox:
        return self.open()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def imap(self) -> imaplib.IMAP4:
        if self._imap is None:
            raise ImapError(f"{self.account.label}: not connected")
        return self._imap

    def _connect(self) -> imaplib.IMAP4:
        account = self.account
        host, port = account.host, account.effective_port
        if account.security is ImapSecurity.TLS:
            return imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(account), timeout=account.timeout)
        imap = imaplib.IMAP4(host, port, timeout=account.timeout)
        if account.security is ImapSecurity.STARTTLS:
            if "STARTTLS" not in imap.capabilities:
                imap.shutdown()
                raise ImapError(f"{account.label}: the server does not offer STARTTLS")
            imap.starttls(ssl_context=tls_context(account))  # RFC 3501 §6.2.1; capabilities re-read
        return imap

    def _authenticate(self, imap: imaplib.IMAP4) -> None:
        account = self.account
        secret = account.secret.reveal()
        if account.auth is ImapAuth.XOAUTH2:
            imap.authenticate("XOAUTH2", _XOAuth2(account.user, secret))
        else:
            imap.login(account.user, secret)

    def _capabilities(self) -> frozenset[str]:
        # The capabilities may change after authentication (RFC 3501 §7.2.1): ask again.
        typ, data = self.imap.capability()
        if typ != "OK" or not data or not isinstance(data[0], bytes):
            return frozenset(str(c).upper() for c in self.imap.capabilities)
        return frozenset(data[0].decode("ascii", "replace").upper().split())

    def _ensure_folder(self, folder: str) -> None:
        name = encode_mailbox(folder)
        typ, data = self.imap.list('""', _quoted(name))
        if typ == "OK" and any(item for item in data if item):
            return
        typ, data = self.imap.create(name)
        if typ != "OK":
            raise ImapError(f"{self.account.label}: cannot create folder {folder!r}: {_text(data)}")
        self.imap.subscribe(name)  # so that mail clients show it

    def _select(self) -> None:
        typ, data = self.imap.select(encode_mailbox(self.account.folder))
        if typ != "OK":
            raise ImapError(f"{self.account.label}: cannot select the folder: {_text(data)}")
        _, values = self.imap.response("UIDVALIDITY")
        self.uidvalidity = int(values[0]) if values and values[0] else 0

    def close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is None:
            return
        try:
            if self._idle_tag is not None:
                imap.send(b"DONE\r\n")
            imap.logout()
        except (imaplib.IMAP4.error, OSError, ValueError):
            with contextlib.suppress(OSError):
                imap.shutdown()
        self._idle_tag = None

    # -- messages -----------------------------------------------------------------------

    def pending_uids(self) -> list[int]:
        """UIDs still in the folder; ``\\Deleted`` ones are already copied away."""
        typ, data = self.imap.uid("SEARCH", "UNDELETED")
        if typ != "OK":
            raise ImapError(f"{self.account.label}: UID SEARCH failed: {_text(data)}")
        raw = data[0] if data and isinstance(data[0], bytes) else b""
        return sorted(int(uid) for uid in raw.split())

    def fetch(self, uids: Sequence[int]) -> dict[int, bytes]:
        """The full messages, without setting ``\\Seen`` (BODY.PEEK, RFC 3501 §6.4.5)."""
        if not uids:
            return {}
        typ, data = self.imap.uid("FETCH", _uid_set(uids), "(UID BODY.PEEK[])")
        if typ != "OK":
            raise ImapError(f"{self.account.label}: UID FETCH failed: {_text(data)}")
        return _parse_fetch(data)

    def move(self, uids: Sequence[int], folder: str) -> None:
        """Move messages out of the folder; copy first, never delete without a copy."""
        if not uids:
            return
        target, uid_set = encode_mailbox(folder), _uid_set(uids)
        if "MOVE" in self.capabilities:  # RFC 6851 §3.1: atomic copy + expunge
            self._check(self.imap.uid("MOVE", uid_set, _quoted(target)), "UID MOVE")
            return
        self._check(self.imap.uid("COPY", uid_set, _quoted(target)), "UID COPY")
        self._check(self.imap.uid("STORE", uid_set, "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE")
        if "UIDPLUS" in self.capabilities:  # RFC 4315 §2.1: expunge only our messages
            self._check(self.imap.uid("EXPUNGE", uid_set), "UID EXPUNGE")
        # Without UIDPLUS a plain EXPUNGE would also remove messages others marked \Deleted:
        # ours stay flagged (and are skipped by UNDELETED) until someone expunges the folder.

    def _check(self, response: tuple[str, Sequence[object]], what: str) -> None:
        typ, data = response
        if typ != "OK":
            raise ImapError(f"{self.account.label}: {what} failed: {_text(data)}")

    def noop(self) -> None:
        self._check(self.imap.noop(), "NOOP")

    # -- IDLE (RFC 2177) ----------------------------------------------------------------

    @property
    def supports_idle(self) -> bool:
        return self.account.use_idle and "IDLE" in self.capabilities

    def fileno(self) -> int:
        return self.imap.socket().fileno()

    def idle_start(self) -> bool:
        """Enter IDLE (RFC 2177 §3): the server pushes ``EXISTS`` when mail arrives.

        True when new mail was announced already (before the continuation,
        or in a response imaplib kept from an earlier command).
        """
        kept = self.imap.untagged_responses.pop("EXISTS", None) or []
        announced = any(int(count) > 0 for count in kept if isinstance(count, bytes) and count.isdigit())
        self._tags += 1
        tag = b"DPI%d" % self._tags
        self.imap.send(tag + b" IDLE\r\n")
        while True:
            line = self.imap.readline()
            if not line:
                raise ImapError(f"{self.account.label}: connection closed during IDLE")
            if line.startswith(b"+"):
                break
            if line.startswith(tag):
                raise ImapError(f"{self.account.label}: IDLE refused: {line.decode(errors='replace').strip()}")
            announced = announced or bool(_EXISTS.match(line))
        self._idle_tag = tag
        return announced

    def idle_pending(self) -> bool:
        """Unread bytes buffered by TLS: ``select`` would not report them."""
        sock = self.imap.socket()
        return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0

    def idle_read(self) -> bool:
        """Read one pushed line (the socket is readable); True when it announces new mail."""
        line = self.imap.readline()
        if not line:
            raise ImapError(f"{self.account.label}: connection closed during IDLE")
        return bool(_EXISTS.match(line))

    def idle_done(self) -> bool:
        """Leave IDLE with ``DONE`` and wait for the tagged completion (RFC 2177 §3).

        True when the server announced new mail meanwhile (it may push
        ``EXISTS`` right before completing).
        """
        tag, self._idle_tag = self._idle_tag, None
        if tag is None:
            return False
        self.imap.send(b"DONE\r\n")
        announced = False
        while True:
            line = self.imap.readline()
            if not line:
                raise ImapError(f"{self.account.label}: connection closed after IDLE")
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].upper().startswith(b"OK"):
                    raise ImapError(f"{self.account.label}: IDLE ended with {line.decode(errors='replace')}")
                return announced
            announced = announced or bool(_EXISTS.match(line))


def wait_for_mail(mailboxes: Sequence[ImapMailbox], timeout: float, wake_fds: Sequence[int] = ()) -> list[int]:
    """IDLE on every mailbox until one announces mail, a wake fd is readable, or ``timeout``.

    Returns the indexes of the mailboxes that announced new mail. Mailboxes
    without IDLE are not waited on (the caller polls them).
    """
    idling = [m for m in mailboxes if m.supports_idle]
    woken: set[int] = set()
    try:
        woken = {i for i, mailbox in enumerate(idling) if mailbox.idle_start()}
        if not woken:
            woken = _idle_loop(idling, min(timeout, MAX_IDLE_SECONDS), wake_fds)
    finally:
        for index, mailbox in enumerate(idling):
            if mailbox.idle_done():
                woken.add(index)
    return sorted(mailboxes.index(idling[i]) for i in woken)


def _idle_loop(idling: Sequence[ImapMailbox], timeout: float, wake_fds: Sequence[int]) -> set[int]:
    deadline = time.monotonic() + timeout
    by_fd = {m.fileno(): i for i, m in enumerate(idling)}
    woken: set[int] = set()
    while not woken:
        ready = [by_fd[m.fileno()] for m in idling if m.idle_pending()]
        if not ready:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            readable, _, _ = select.select([*by_fd, *wake_fds], [], [], remaining)
            if any(fd in wake_fds for fd in readable):
                break
            ready = [by_fd[fd] for fd in readable if fd in by_fd]
        for index in ready:
            if idling[index].idle_read():
                woken.add(index)
    return woken


def collect(mailbox: ImapMailbox, ingestor: Ingestor, summary: IngestSummary,
            should_stop: Callable[[], bool] = lambda: False) -> PassResult:
    """Ingest every message in the folder, batch by batch; stop between batches when asked."""
    uids = mailbox.pending_uids()
    result = PassResult()
    size = max(1, mailbox.account.batch_size)
    for start in range(0, len(uids), size):
        if should_stop():
            return result + PassResult(interrupted=True)
        result += _collect_batch(mailbox, uids[start:start + size], ingestor, summary)
    return result


def _collect_batch(mailbox: ImapMailbox, uids: Sequence[int], ingestor: Ingestor,
                   summary: IngestSummary) -> PassResult:
    account = mailbox.account
    messages = mailbox.fetch(uids)
    filed: dict[Destination, list[int]] = {Destination.ARCHIVE: [], Destination.ERROR: []}
    for uid in uids:
        data = messages.get(uid)
        if data is None:  # expunged by someone else meanwhile
            continue
        before = len(summary.rejected)
        ingestor.ingest(account.origin(mailbox.uidvalidity, uid), _opener(data), summary)
        # ingest() returned: archived and committed; now it may leave the folder.
        filed[Destination.ERROR if len(summary.rejected) > before else Destination.ARCHIVE].append(uid)
    mailbox.move(filed[Destination.ARCHIVE], account.archive_folder)
    mailbox.move(filed[Destination.ERROR], account.error_folder)
    log.info("%s: %d messages archived, %d to the error folder", account.label,
             len(filed[Destination.ARCHIVE]), len(filed[Destination.ERROR]))
    return PassResult(len(messages), len(filed[Destination.ARCHIVE]), len(filed[Destination.ERROR]))


def collect_once(account: ImapAccount, ingestor: Ingestor, summary: IngestSummary,
                 should_stop: Callable[[], bool] = lambda: False) -> PassResult:
    """Connect, collect everything, disconnect (``dmarcpilot fetch``)."""
    with ImapMailbox(account) as mailbox:
        try:
            return collect(mailbox, ingestor, summary, should_stop)
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"{account.label}: {exc}") from None


def _opener(data: bytes) -> Callable[[], io.BytesIO]:
    return lambda: io.BytesIO(data)


def _uid_set(uids: Sequence[int]) -> str:
    """A compact sequence set (RFC 3501 §9, ``sequence-set``): runs become ``a:b``."""
    ordered = sorted(set(uids))
    runs: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        runs.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    runs.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(runs)


def _parse_fetch(data: Sequence[object]) -> dict[int, bytes]:
    """imaplib's FETCH answer: ``(b'1 (UID 7 BODY[] {n}', body)`` then ``b')'`` (or ``b' UID 7)'``)."""
    messages: dict[int, bytes] = {}
    waiting: bytes | None = None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            head, body = item
            match = _UID.search(head)
            if match:
                messages[int(match.group(1))] = body
            else:
                waiting = body
        elif isinstance(item, bytes) and waiting is not None:
            match = _UID.search(item)
            if match:
                messages[int(match.group(1))] = waiting
            waiting = None
    return messages


def _quoted(name: str) -> str:
    """A quoted string (RFC 3501 §4.3); imaplib sends it as given."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text(data: Sequence[object]) -> str:
    return " ".join(d.decode(errors="replace") if isinstance(d, bytes) else str(d) for d in data if d)

