"""A real Dovecot IMAP server for the tests, started from a generated configuration.

``dovecot -F -c CONF`` runs in the foreground with its base_dir, state_dir,
log and mail under one private directory, listening on 127.0.0.1 on a free
port. When Dovecot is not installed the tests fail (never skip) and name the
package: ``apt-get install dovecot-imapd`` (scripts/ensure-tools does it).

As root, Dovecot refuses mail access for UID 0 and drops privileges for the
login, auth and mail processes: the directory is then world-traversable and
the mail store belongs to ``nobody``.
"""

from __future__ import annotations

import datetime
import imaplib
import ipaddress
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = "dmarc"
PASSWORD = "report-secret"
TOKEN = "ya29.test-bearer-token"  # accepted through XOAUTH2 (Dovecot checks it against the passdb)
DOVECOT = "/usr/sbin/dovecot"
PACKAGE = "dovecot-imapd"


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or (DOVECOT if os.access(DOVECOT, os.X_OK) else None)
    if not found:
        raise AssertionError(
            f"Dovecot is not installed: the IMAP tests need a real server. Install the Debian package "
            f"{PACKAGE!r} (apt-get install {PACKAGE}, or scripts/ensure-tools)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Tls:
    cert: Path
    key: Path


def self_signed(directory: Path) -> Tls:
    """A certificate for 127.0.0.1 / localhost, signed by itself (it is its own CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    paths = Tls(directory / "cert.pem", directory / "key.pem")
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    os.chmod(paths.key, 0o600)
    return paths


@dataclass
class Dovecot:
    root: Path
    port: int
    imaps_port: int | None
    tls: Tls | None
    process: subprocess.Popen[bytes]

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        imap.login(USER, PASSWORD)
        return imap

    def append(self, folder: str, messages: Iterable[bytes]) -> int:
        imap = self.client()
        try:
            count = 0
            for message in messages:
                typ, data = imap.append(folder, None, None, message)
                assert typ == "OK", data
                count += 1
            return count
        finally:
            imap.logout()

    def has_folder(self, folder: str) -> bool:
        imap = self.client()
        try:
            typ, data = imap.list('""', f'"{folder}"')
            return typ == "OK" and any(data)
        finally:
            imap.logout()

    def count(self, folder: str) -> int:
        """Messages in a folder (0 when it does not exist), not counting ones flagged \\Deleted."""
        imap = self.client()
        try:
            typ, _ = imap.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return 0
            typ, data = imap.uid("SEARCH", "UNDELETED")
            return len(data[0].split()) if data and data[0] else 0
        finally:
            imap.logout()

    def messages(self, folder: str) -> list[bytes]:
        imap = self.client()
        try:
            typ, _ = imap.select(f'"{folder}"', readonly=True)
            if typ != "OK":
                return []
            typ, data = imap.uid("SEARCH", "UNDELETED")
            uids = data[0].split() if data and data[0] else []
            out = []
            for uid in uids:
                typ, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[])")
                out.append(next(item[1] for item in fetched if isinstance(item, tuple)))
            return out
        finally:
            imap.logout()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(root: Path, port: int, imaps_port: int | None, tls: Tls | None, mail_user: str) -> str:
    entry = pwd.getpwnam(mail_user)
    (root / "users").write_text(
        f"{USER}:{{PLAIN}}{PASSWORD}:{entry.pw_uid}:{entry.pw_gid}::{root / 'home' / USER}::\n")
    me = pwd.getpwuid(os.getuid()).pw_name
    users = "" if os.getuid() == 0 else f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    ssl = "ssl = no\n" if tls is None else f"ssl = yes\nssl_cert = <{tls.cert}\nssl_key = <{tls.key}\n"
    imaps = "" if imaps_port is None else (
        f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}\n")
    return f"""# generated by tests/sources/dovecot.py
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = dovecot-test-{port}
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
{users}disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2
{ssl}mail_location = maildir:{root}/mail/%u
first_valid_uid = 1
mail_fsync = always
imap_idle_notify_interval = 2 mins
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users
}}
# XOAUTH2: Dovecot verifies the bearer token against the passdb like a password
passdb {{
  driver = static
  args = password={TOKEN}
}}
userdb {{
  driver = passwd-file
  args = {root}/users
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
{imaps}  chroot =
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def running_dovecot(tls: bool = False) -> Iterator[Dovecot]:
    """Start Dovecot, wait until it answers, stop it (and remove its files) afterwards."""
    binary = dovecot_binary()
    root = Path(tempfile.mkdtemp(prefix="dmarcpilot-dovecot-"))
    try:
        root.chmod(0o755)
        mail_user = "nobody" if os.getuid() == 0 else pwd.getpwuid(os.getuid()).pw_name
        (root / "mail").mkdir()
        (root / "home" / USER).mkdir(parents=True)
        if os.getuid() == 0:
            entry = pwd.getpwnam(mail_user)
            for path in (root / "mail", root / "home", root / "home" / USER):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        certs = self_signed(root) if tls else None
        port, imaps_port = free_port(), (free_port() if tls else None)
        conf = root / "dovecot.conf"
        conf.write_text(_config(root, port, imaps_port, certs, mail_user))
        process = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        server = Dovecot(root, port, imaps_port, certs, process)
        try:
            _wait_ready(server)
            yield server
        finally:
            _stop(process)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _wait_ready(server: Dovecot, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = server.process.stdout.read().decode(errors="replace") if server.process.stdout else ""
            raise AssertionError(f"dovecot exited with {server.process.returncode}: {output}\n{server.log()}")
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1) as sock:
                if sock.recv(100).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"dovecot did not answer within {timeout}s:\n{server.log()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
