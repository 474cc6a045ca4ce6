"""A real recursive resolver in front of our server, and a real SPF checker behind it.

unbound (Debian) resolves with two stub zones: ``example.edu`` at an NSD
serving the organisation's own records (the SPF record pointing at the
hosted zone, the CNAMEs, the NS delegation, as ``Publication.own_dns``
lists them) and ``_dmarcpilot.example.edu`` at our server; it randomises
the case of its queries (``use-caps-for-id``, DNS 0x20) and checks the
echo. Mail::SPF's ``spfquery`` (Debian ``spf-tools-perl``) asks unbound
(``RES_NAMESERVERS``/``RES_OPTIONS=port:N`` of Net::DNS) and must get
``pass`` for approved addresses and ``fail`` for the others; after an
approval changes, the next check of a new address reflects it.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dmarcpilot.enrich.catalogue import load_catalogue
from dmarcpilot.policy.approvals import Decision, Subject
from dmarcpilot.policy.domains import ALL_QUALIFIERS
from dmarcpilot.policy.publish import master_file
from dmarcpilot.policy.publisher import publication
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.store.approvals import decide
from dmarcpilot.store.db import open_store
from dmarcpilot.store.publishing import get_settings, save_settings
from tests.dnsserver.helpers import DOMAIN, HZ, dns_server, nsd_conf, require
from tests.dnsserver.test_secondary import free_port

UNBOUND_CONF = """\
server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    logfile: ""
    use-syslog: no
    verbosity: 1
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    module-config: "iterator"
    use-caps-for-id: yes
    do-ip6: no
stub-zone:
    name: "{domain}"
    stub-addr: 127.0.0.1@{own}
stub-zone:
    name: "{hosted}"
    stub-addr: 127.0.0.1@{ours}
remote-control:
    control-enable: no
"""


@contextmanager
def daemon(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(0.5)
        assert proc.poll() is None, (proc.stdout.read() if proc.stdout else "")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def own_zone(store_url: str, directory: Path) -> None:
    """The organisation's own zone, as it publishes once what ``dmarcpilot records`` lists."""
    engine = open_store(store_url)
    pub, _ = asyncio.run(publication(engine, DOMAIN, load_catalogue()))
    engine.dispose()
    records = [ZoneRecord(DOMAIN, "SOA", f"ns.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 300"),
               ZoneRecord(DOMAIN, "NS", f"ns.{DOMAIN}."), ZoneRecord(f"ns.{DOMAIN}", "A", "127.0.0.1"),
               *pub.own_dns]
    assert any(r.rdtype == "TXT" and r.value.startswith("v=spf1 exists:") for r in pub.own_dns)
    (directory / f"{DOMAIN}.zone").write_text(master_file(DOMAIN, records))


def spf(resolver_port: int, ip: str) -> str:
    env = {**os.environ, "RES_NAMESERVERS": "127.0.0.1", "RES_OPTIONS": f"port:{resolver_port}"}
    done = subprocess.run([require("spfquery"), "--scope", "mfrom", "--id", f"bounce@{DOMAIN}", "--ip", ip,
                           "--helo-id", "mail.example.org"], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    return done.stdout.splitlines()[0].strip() if done.stdout else f"no output: {done.stderr}"


def test_unbound_resolves_for_spfquery(store_url: str, tmp_path: Path) -> None:
    engine = open_store(store_url)
    save_settings(engine, get_settings(engine, DOMAIN).updated(spf_all=ALL_QUALIFIERS["-"]), "alice")
    own_zone(store_url, tmp_path)
    own_port, resolver_port = free_port(), free_port()
    (tmp_path / "nsd.conf").write_text(nsd_conf(own_port, tmp_path, DOMAIN))
    with dns_server(store_url, reload_interval=0.3) as ours, \
            daemon([require("nsd"), "-d", "-c", str(tmp_path / "nsd.conf")]):
        (tmp_path / "unbound.conf").write_text(UNBOUND_CONF.format(
            port=resolver_port, dir=tmp_path, domain=DOMAIN, hosted=HZ, own=own_port, ours=ours.port))
        checked = subprocess.run([require("unbound-checkconf"), str(tmp_path / "unbound.conf")],
                                 capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        with daemon([require("unbound"), "-d", "-c", str(tmp_path / "unbound.conf")]):
            time.sleep(0.5)
            assert spf(resolver_port, "198.51.100.7") == "pass"  # an approved /24: a wildcard in the tree
            assert spf(resolver_port, "203.0.113.77") == "pass"  # an approved /25: one name per address
            assert spf(resolver_port, "2001:db8:b::25") == "pass"  # an approved /48
            assert spf(resolver_port, "192.0.2.25") == "pass"  # the domain's own server
            assert spf(resolver_port, "203.0.113.200") == "fail"  # outside the /25
            assert spf(resolver_port, "233.252.0.7") == "fail"
            decide(engine, DOMAIN, Subject.from_text("233.252.0.0/24"), Decision.APPROVED, "bob", "new relay")
            results = []
            for host in range(20, 45):  # a new address each time: its name was never asked, so never cached
                time.sleep(0.4)
                results.append(spf(resolver_port, f"233.252.0.{host}"))
                if results[-1] == "pass":
                    break
            assert results[-1] == "pass", results
    engine.dispose()
