"""What the DNS server tests share: a store holding one domain, the server as a subprocess, real DNS clients.

The clients are Debian's ``dig`` (bind9-dnsutils), ``kdig`` (knot-dnsutils),
``nsd`` and ``dnsperf``: :func:`require` fails the test, with the package to
install, when one is missing (``scripts/ensure-tools`` installs them).
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.policy.dkimkeys import DkimKeyPair, seal
from dmarcpilot.policy.domains import DomainSettings
from dmarcpilot.policy.spfcompile import SpfMode
from dmarcpilot.records.mtasts import Mode
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.publishing import KeyState, StoredKey, add_key, save_settings

DOMAIN = "example.edu"
HZ = "_dmarcpilot.example.edu"
CHAINED = "example.org"  # conventional SPF with chained records: SPF TXT in its hosted zone
CHAINED_HZ = "_dmarcpilot.example.org"
SELECTOR = "s2048"
BIG_SELECTOR = "s4096"
TSIG_NAME = "xfr-key"
TSIG_SECRET = "c2VjcmV0LWZvci10aGUtZG1hcmNwaWxvdC10ZXN0cw=="  # base64 of 32 octets

PACKAGES = {"dig": "bind9-dnsutils", "kdig": "knot-dnsutils", "nsd": "nsd", "dnsperf": "dnsperf",
            "nsd-checkzone": "nsd"}


def require(binary: str) -> str:
    """The path of ``binary``, or a test failure saying which Debian package to install."""
    path = shutil.which(binary) or next((p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}")
                                         if os.access(p, os.X_OK)), None)
    if path is None:
        raise AssertionError(f"{binary} is not installed: apt-get install {PACKAGES.get(binary, binary)} "
                             "(scripts/ensure-tools installs every tool the tests use)")
    return path


# ---------------------------------------------------------------------------- the store


NETWORKS = ("198.51.100.0/24", "203.0.113.0/25", "198.18.0.0/25", "198.18.1.128/25", "2001:db8:b::/48")


def setup_domains(engine: sa.Engine, keys: dict[str, DkimKeyPair]) -> None:
    """example.edu (SPF exists tree, DMARC, MTA-STS, TLS-RPT, DKIM keys) and example.org (chained SPF)."""
    setup_domain(engine, keys)
    for i in range(40):  # 40 /16 that do not merge: too long for one record, chained as _c1, _c2
        decide(engine, CHAINED, Subject.from_text(f"10.{2 * i}.0.0/16"), Decision.APPROVED, "alice", "campus")
    save_settings(engine, DomainSettings(CHAINED, spf_mode=SpfMode.CONVENTIONAL, nameservers=("ns1.dp.example",)),
                  "alice")


def setup_domain(engine: sa.Engine, keys: dict[str, DkimKeyPair], networks: tuple[str, ...] = NETWORKS) -> None:
    """example.edu: approved networks (SPF tree: /24 and /48 as wildcards, /25 as 128 names each), DMARC,
    MTA-STS, TLS-RPT, the DKIM keys ``keys``, two name servers."""
    for network in networks:
        decide(engine, DOMAIN, Subject.from_text(network), Decision.APPROVED, "alice", "known sender")
    save_settings(engine, DomainSettings(
        DOMAIN, spf_own_terms=("ip4:192.0.2.25",), spf_mode=SpfMode.EXISTS,
        dmarc_rua=("mailto:dmarc@example.edu",), mta_sts_mode=Mode.TESTING, mta_sts_mx=("*.example.edu",),
        tlsrpt_rua=("mailto:tls@example.edu",), nameservers=("ns1.dp.example", "ns2.dp.example")), "alice")
    now = datetime.now(UTC)
    for selector, pair in keys.items():
        add_key(engine, StoredKey(DOMAIN, selector, None, pair.key_type.value, pair.bits, pair.record.to_text(),
                                  seal(pair.pkcs8_pem(), "test-secret"), KeyState.ACTIVE, now, now))


# ---------------------------------------------------------------------------- the server process


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    port: int
    startup: dict[str, Any]
    metrics: str | None = None
    log: str = ""  # the server's stderr, once it stopped


@contextmanager
def dns_server(db_url: str, *args: str, reload_interval: float = 0.3, timeout: float = 60) -> Iterator[ServerProcess]:
    """``dmarcpilot dns serve`` on an ephemeral port of 127.0.0.1; stopped with SIGTERM, which must exit 0."""
    command = [sys.executable, "-m", "dmarcpilot", "--db", db_url, "dns", "serve", "--listen", "127.0.0.1:0",
               "--format", "json", "--reload-interval", str(reload_interval), *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    server: ServerProcess | None = None
    try:
        startup = json.loads(_first_line(proc, timeout))
        port = int(str(startup["listen"][0]).rsplit(":", 1)[1])
        server = ServerProcess(proc, port, startup, startup.get("metrics"))
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log = proc.stderr.read() if proc.stderr else ""
        sys.stderr.write(log[-5000:])  # the server's log, shown by pytest on failure
        if server is not None:
            server.log = log
    assert proc.returncode == 0, f"the server exited with {proc.returncode} after SIGTERM"


def _first_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if selector.select(0.2):
            line = proc.stdout.readline()
            if line:
                return line
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"dns serve exited with {proc.returncode} before listening:\n{err}")
    proc.kill()
    raise AssertionError(f"dns serve did not start listening within {timeout} s")


# ---------------------------------------------------------------------------- dig and kdig


@dataclass(frozen=True)
class Reply:
    """What a dig-like client printed: status, header flags, answer and authority records."""

    text: str
    status: str
    flags: frozenset[str]
    answer: tuple[tuple[str, ...], ...]
    authority: tuple[tuple[str, ...], ...]

    def values(self, rdtype: str) -> list[str]:
        return [" ".join(r[4:]) for r in self.answer if r[3] == rdtype]


def _section(text: str, title: str) -> tuple[tuple[str, ...], ...]:
    match = re.search(rf"^;; {title} SECTION:\n(.*?)(?:\n\n|\Z)", text, re.S | re.M)
    if not match:
        return ()
    rows = [line.split(None, 4) for line in match.group(1).splitlines() if line and not line.startswith(";")]
    return tuple((r[0].lower(), r[1], r[2], r[3], *r[4:]) for r in rows)


def parse_reply(text: str) -> Reply:
    status = re.findall(r"status: ([A-Z]+)", text)
    flags = re.findall(r"^;; [Ff]lags: ([a-z ]*);", text, re.M)
    if not status or not flags:
        raise AssertionError(f"no DNS reply in the client's output:\n{text}")
    return Reply(text, status[-1], frozenset(flags[-1].split()), _section(text, "ANSWER"), _section(text, "AUTHORITY"))


def dig(port: int, name: str, rdtype: str, *options: str, client: str = "dig", timeout: float = 20,
        server: str = "127.0.0.1") -> Reply:
    """Ask 127.0.0.1:``port`` with ``dig`` or ``kdig`` (no recursion desired: we are authoritative)."""
    binary = require(client)
    timers = ("+timeout=2", "+retry=1") if client == "kdig" else ("+time=2", "+tries=2")
    command = [binary, f"@{server}", "-p", str(port), name, rdtype, "+norecurse", *timers, *options]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode not in (0, 9) and "status:" not in done.stdout:
        raise AssertionError(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return parse_reply(done.stdout)


def txt(value: str) -> str:
    """A TXT value as dig prints it: the character-strings quoted, concatenated."""
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', value))


def nsd_conf(port: int, directory: Path, zone: str, *, server: tuple[str, ...] = (), zone_lines: tuple[str, ...] = (),
             key: str = "") -> str:
    """An nsd.conf serving ``zone`` from ``directory`` on 127.0.0.1:``port``, unprivileged and without RRL.

    ``server`` and ``zone_lines`` add lines to those sections; ``key`` is a ``key:`` section.
    """
    lines = [
        "server:", "    ip-address: 127.0.0.1", f"    port: {port}", '    username: ""', '    chroot: ""',
        f'    zonesdir: "{directory}"', '    database: ""', f'    pidfile: "{directory}/nsd.pid"',
        f'    xfrdfile: "{directory}/xfrd.state"', f'    zonelistfile: "{directory}/zone.list"',
        f'    logfile: "{directory}/nsd.log"', "    server-count: 1", "    rrl-ratelimit: 0",
        *(f"    {line}" for line in server),
        "remote-control:", "    control-enable: no", *([key.rstrip("\n")] if key else []),
        "zone:", f'    name: "{zone}"', f'    zonefile: "{zone}.zone"', *(f"    {line}" for line in zone_lines),
    ]
    return "\n".join(lines) + "\n"
