"""Real SPF implementations evaluate our compiled records as our evaluator does, over real DNS messages.

A fake vendor world (IPv4 and IPv6 ranges, nested includes, an ``a``
mechanism with dual CIDR, a vendor whose ``exists:%{i}`` cannot be
flattened, eight small vendors that push the conventional form past 10
lookups so it must flatten) is compiled in both forms; the compiled zone and
the world are served by ``tests/zoneserver.py`` on loopback, with the
compiled record as the domain's TXT (next to enough other TXT records that
the answer only fits over TCP). Then, for the boundary addresses of every
range, their outside neighbours and a seeded sample (IPv4 and IPv6):

* Mail::SPF (Perl, Debian ``libmail-spf-perl``) through ``spf_mailspf.pl``,
* pyspf (Debian ``python3-spf``, the system Python) through ``spf_pyspf.py``,
* our evaluator with a ``ResolverClient`` on the same server,

must give the same result for every address, the result the approvals mean
(the uncompiled reference record), and the results worked out by hand for
the named addresses in ``BY_HAND``. The Debian tools are required: when one
is missing the tests fail and name the package to install.

The exists-form zone also goes through ``nsd-checkzone`` (Debian ``nsd``) as
``master_file`` writes it, and through ``kdig`` (Debian ``knot-dnsutils``)
over UDP and TCP against the test server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.asyncresolver
import pytest

from dmarcpilot.dnsclient import ResolverClient, StaticDnsClient
from dmarcpilot.policy.publish import SOA_TIMERS, master_file
from dmarcpilot.policy.spfcompile import CompiledSpf, Resolution, SpfMode, SpfPolicy, compile_spf, resolve
from dmarcpilot.policy.spfproof import UNLIMITED, probe_addresses
from dmarcpilot.policy.spftree import collapse
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.spf import SpfResult, check_host, evaluate_record
from tests.zoneserver import ZoneServer, serve

HERE = Path(__file__).parent
DOMAIN = "example.edu"
ZONE = f"_dmarcpilot.{DOMAIN}"
SENDER = f"bounce@{DOMAIN}"
HELO = "mail.example.org"
PERL = "/usr/bin/perl"
SYSTEM_PYTHON = "/usr/bin/python3"


def _nibbles(ip: str) -> str:
    return ".".join(ipaddress.IPv6Address(ip).exploded.replace(":", ""))


WORLD: dict[tuple[str, str], list[str]] = {
    ("vendor-a.example", "TXT"): ["v=spf1 ip4:198.51.100.0/24 ip6:2001:db8:a::/48 -all"],
    # include + two nested includes + one a: 4 lookups, flattenable
    ("vendor-b.example", "TXT"): ["v=spf1 include:_n1.vendor-b.example include:_n2.vendor-b.example ~all"],
    ("_n1.vendor-b.example", "TXT"): ["v=spf1 ip4:203.0.113.0/25 ip6:2001:db8:b::/64 -all"],
    ("_n2.vendor-b.example", "TXT"): ["v=spf1 a:out.vendor-b.example/30//126 -all"],
    ("out.vendor-b.example", "A"): ["203.0.113.200"],
    ("out.vendor-b.example", "AAAA"): ["2001:db8:b0::10"],
    # depends on the message checked (RFC 7208 §7.3 %{i}): cannot be flattened, stays an include
    ("vendor-c.example", "TXT"): ["v=spf1 exists:%{i}._spf.vendor-c.example ~all"],
    ("192.0.2.177._spf.vendor-c.example", "A"): ["127.0.0.2"],
    (f"{_nibbles('2001:db8:c::5')}._spf.vendor-c.example", "A"): ["127.0.0.2"],
    # the organisation's own servers (A and AAAA, so no check meets a void lookup there)
    (DOMAIN, "MX"): [f"10 mx1.{DOMAIN}."],
    (f"mx1.{DOMAIN}", "A"): ["192.0.2.200"],
    (f"mx1.{DOMAIN}", "AAAA"): ["2001:db8:e::25"],
    (f"relay.{DOMAIN}", "A"): ["192.0.2.250"],
    (f"relay.{DOMAIN}", "AAAA"): ["2001:db8:e::26"],
    **{(f"v{i:02}.example", "TXT"): [f"v=spf1 ip4:100.64.{i}.0/24 ip6:2001:db8:1{i:02}::/48 -all"]
       for i in range(1, 9)},
}
# Other TXT records at the domain: the answer (about 1,500 octets) only fits over TCP (RFC 7208 §3.4 allows it)
APEX_TXT = [f"site-verification-{i:02}={i:02x}" + "0123456789abcdef" * 5 for i in range(16)]
VENDOR_C_HOSTS = (ipaddress.ip_network("192.0.2.177/32"), ipaddress.ip_network("2001:db8:c::5/128"))

PASS, SOFTFAIL = SpfResult.PASS, SpfResult.SOFTFAIL
BY_HAND = {  # worked out from WORLD and policy(): which term lets each address through, or none
    "198.51.100.17": PASS,  # vendor-a
    "198.51.101.0": SOFTFAIL,  # just past vendor-a's /24
    "2001:db8:a:ffff:ffff:ffff:ffff:ffff": PASS,  # last of vendor-a's /48
    "2001:db8:b:0:ffff:ffff:ffff:ffff": PASS,  # last of vendor-b's 2001:db8:b::/64 (nested include _n1)
    "2001:db8:b:1::": SOFTFAIL,  # just past it
    "203.0.113.127": PASS,  # last of vendor-b's /25 (nested include _n1)
    "203.0.113.128": SOFTFAIL,
    "203.0.113.199": SOFTFAIL,  # just before vendor-b's a:/30 (200-203)
    "203.0.113.203": PASS,
    "203.0.113.204": SOFTFAIL,
    "2001:db8:b0::13": PASS,  # last of vendor-b's a://126
    "2001:db8:b0::14": SOFTFAIL,
    "192.0.2.177": PASS,  # vendor-c's exists:%{i} (outside the approved 192.0.2.0/25)
    "192.0.2.178": SOFTFAIL,
    "2001:db8:c::5": PASS,  # vendor-c's exists:%{i}, IPv6 dotted nibbles
    "2001:db8:c::6": SOFTFAIL,
    "192.0.2.127": PASS,  # last of the approved /25
    "192.0.2.128": SOFTFAIL,
    "10.1.3.255": PASS,  # last of the approved /22
    "10.1.4.0": SOFTFAIL,
    "10.0.255.255": SOFTFAIL,
    "2001:db8:1235:ffff:ffff:ffff:ffff:ffff": PASS,  # last of the approved /47
    "2001:db8:1236::": SOFTFAIL,
    "192.0.2.200": PASS,  # mx
    "2001:db8:e::25": PASS,  # mx, AAAA
    "192.0.2.250": PASS,  # a:relay
    "2001:db8:e::27": SOFTFAIL,
    "100.64.1.9": PASS,  # v01, flattened in the conventional form
    "100.64.8.255": PASS,  # v08, kept as an include in the conventional form
    "2001:db8:108:ffff::1": PASS,
    "100.64.9.1": SOFTFAIL,
    "2001:db8:109::1": SOFTFAIL,
    "8.8.8.8": SOFTFAIL,
    "2001:4860:4860::8888": SOFTFAIL,
}


def policy(mode: SpfMode) -> SpfPolicy:
    return SpfPolicy(
        DOMAIN, ZONE,
        includes=("vendor-a.example", "vendor-b.example", "vendor-c.example",
                  *(f"v{i:02}.example" for i in range(1, 9))),
        networks=(ipaddress.ip_network("192.0.2.0/25"), ipaddress.ip_network("10.1.0.0/22"),
                  ipaddress.ip_network("2001:db8:1234::/47")),
        own_terms=SpfPolicy.parse_own_terms(["mx", f"a:relay.{DOMAIN}"]),
        mode=mode,
    )


def apex_records(serial: int = 2024010101) -> list[ZoneRecord]:
    """SOA and NS at the hosted zone's apex, as ``policy.publish.zone_records`` writes them."""
    soa = f"ns1.{ZONE}. hostmaster.{DOMAIN}. {serial} " + " ".join(str(t) for t in SOA_TIMERS)
    return [ZoneRecord(ZONE, "SOA", soa), ZoneRecord(ZONE, "NS", f"ns1.{ZONE}."),
            ZoneRecord(f"ns1.{ZONE}", "A", "192.0.2.53")]


# --------------------------------------------------------------------------- the tools


def _fail_without(path: str, package: str) -> None:
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"{path} is missing: apt-get install {package}")


def _tool_env() -> dict[str, str]:
    """The environment without the venv's Python or resolver overrides (Net::DNS reads RES_*)."""
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "LOCALDOMAIN")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("RES_")}


def _run_checks(command: list[str], addresses: list[str], package: str) -> dict[str, tuple[str, str]]:
    lines = "".join(f"{ip}\t{SENDER}\t{HELO}\n" for ip in addresses)
    proc = subprocess.run(command, input=lines, capture_output=True, text=True, timeout=600, env=_tool_env())
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed (exit {proc.returncode}; is {package} installed?):\n{proc.stderr}")
    out = {}
    for line in proc.stdout.splitlines():
        ip, result, why = [*line.split("\t"), "", ""][:3]
        out[ip] = (result, why)
    assert set(out) == set(addresses), f"{command[1]} answered {len(out)} of {len(addresses)} addresses"
    return out


def mail_spf(port: int, addresses: list[str]) -> dict[str, tuple[str, str]]:
    _fail_without(PERL, "perl")
    probe = subprocess.run([PERL, "-MMail::SPF", "-MNet::DNS::Resolver", "-e", "1"], capture_output=True,
                           text=True, env=_tool_env())
    if probe.returncode != 0:
        pytest.fail(f"Mail::SPF is missing: apt-get install libmail-spf-perl ({probe.stderr.strip()})")
    return _run_checks([PERL, str(HERE / "spf_mailspf.pl"), str(port)], addresses, "libmail-spf-perl")


def pyspf(port: int, addresses: list[str]) -> dict[str, tuple[str, str]]:
    _fail_without(SYSTEM_PYTHON, "python3")
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import spf"], capture_output=True, text=True, env=_tool_env())
    if probe.returncode != 0:
        pytest.fail(f"pyspf is missing for {SYSTEM_PYTHON}: apt-get install python3-spf ({probe.stderr.strip()})")
    return _run_checks([SYSTEM_PYTHON, str(HERE / "spf_pyspf.py"), str(port)], addresses, "python3-spf")


def ours(port: int, addresses: list[str]) -> dict[str, tuple[str, str]]:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = port
    client = ResolverClient(resolver)

    async def run() -> dict[str, tuple[str, str]]:
        out = {}
        for ip in addresses:
            outcome = await check_host(ip, DOMAIN, SENDER, client=client, helo=HELO)
            out[ip] = (outcome.result.value, outcome.reason or "")
        return out

    return asyncio.run(run())


# --------------------------------------------------------------------------- the world, served


@dataclass
class Served:
    mode: SpfMode
    compiled: CompiledSpf
    resolution: Resolution
    addresses: list[str]
    reference: dict[str, str]  # what the approvals mean, per address
    results: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)  # tool -> ip -> (result, why)
    tcp_txt: dict[str, int] = field(default_factory=dict)  # tool -> TCP questions for the domain's TXT
    missing: dict[str, str] = field(default_factory=dict)  # tool -> why it could not run (a Debian package)
    errors: list[BaseException] = field(default_factory=list)


def _compile(mode: SpfMode) -> tuple[CompiledSpf, Resolution, StaticDnsClient]:
    world = StaticDnsClient(WORLD)
    p = policy(mode)
    resolution = asyncio.run(resolve(p, world))
    compiled = compile_spf(p, resolution)
    world.add(DOMAIN, "TXT", compiled.record.to_text(), *APEX_TXT)  # the domain publishes the compiled record
    return compiled, resolution, world


def _addresses(compiled: CompiledSpf, resolution: Resolution) -> list[str]:
    nets = [*compiled.policy.networks, *resolution.own.networks, *VENDOR_C_HOSTS]
    for expansion in resolution.includes.values():
        nets.extend(expansion.networks)
    found = dict.fromkeys(str(ip) for ip in probe_addresses(collapse(nets), sample=30, seed=4592))
    found.update(dict.fromkeys(BY_HAND))
    return list(found)


def _reference(compiled: CompiledSpf, resolution: Resolution, world: StaticDnsClient,
               addresses: list[str]) -> dict[str, str]:
    reference = compiled.policy.reference()

    async def run() -> dict[str, str]:
        return {ip: (await evaluate_record(reference, ip, DOMAIN, SENDER, client=world, helo=HELO,
                                           limits=UNLIMITED)).result.value for ip in addresses}

    return asyncio.run(run())


@pytest.fixture(scope="module", params=[SpfMode.CONVENTIONAL, SpfMode.EXISTS], ids=lambda m: m.value)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    mode: SpfMode = request.param
    compiled, resolution, world = _compile(mode)
    addresses = _addresses(compiled, resolution)
    state = Served(mode, compiled, resolution, addresses, _reference(compiled, resolution, world, addresses))
    server = ZoneServer([*apex_records(), *compiled.zone], (ZONE,), world)
    with serve(server) as port:
        for name, tool in (("Mail::SPF", mail_spf), ("pyspf", pyspf), ("dmarcpilot", ours)):
            before = server.queries[(DOMAIN, "TXT", "tcp")]
            try:
                state.results[name] = tool(port, addresses)
            except pytest.fail.Exception as exc:  # fail the tests that need this tool, not the others
                state.missing[name] = str(exc)
                continue
            state.tcp_txt[name] = server.queries[(DOMAIN, "TXT", "tcp")] - before
    state.errors = list(server.errors)
    yield state


TOOLS = ("Mail::SPF", "pyspf", "dmarcpilot")


def results(served: Served, *tools: str) -> dict[str, dict[str, tuple[str, str]]]:
    """The results of ``tools`` (all when none given); the test fails when one of them could not run."""
    tools = tools or TOOLS
    for tool in tools:
        if tool in served.missing:
            pytest.fail(served.missing[tool])
    return {tool: served.results[tool] for tool in tools}


def test_the_compiled_records_are_the_intended_ones(served: Served) -> None:
    compiled = served.compiled
    assert compiled.mode is served.mode
    if served.mode is SpfMode.CONVENTIONAL:
        # own 2 + vendor-a 1 + vendor-b 4 + vendor-c 2 + eight vendors 8 = 17: vendor-b, v01-v03 flattened
        assert compiled.flattened == ("vendor-b.example", "v01.example", "v02.example", "v03.example")
        assert compiled.lookups == 10 and compiled.zone == ()
        assert "include:vendor-c.example" in compiled.record.to_text()
        assert len(compiled.record.to_text()) > 255  # two character-strings in the TXT record
    else:
        assert compiled.record.to_text() == f"v=spf1 exists:%{{ir}}.%{{v}}._spf.{ZONE} include:vendor-c.example ~all"
        assert compiled.lookups == 3
    assert len(served.addresses) > 150


@pytest.mark.parametrize("tool", TOOLS)
def test_each_implementation_gives_the_results_worked_out_by_hand(served: Served, tool: str) -> None:
    got = {ip: results(served, tool)[tool][ip][0] for ip in BY_HAND}
    assert got == {ip: expected.value for ip, expected in BY_HAND.items()}


def test_the_three_implementations_agree_on_every_address(served: Served) -> None:
    every = results(served)
    disagreements = {ip: {tool: every[tool][ip] for tool in TOOLS} for ip in served.addresses
                     if len({every[tool][ip][0] for tool in TOOLS}) > 1}
    assert disagreements == {}
    seen = {every["dmarcpilot"][ip][0] for ip in served.addresses}
    assert seen == {"pass", "softfail"}


def test_every_implementation_reads_what_the_approvals_mean(served: Served) -> None:
    for tool, got in results(served).items():
        wrong = {ip: (served.reference[ip], got[ip]) for ip in served.addresses if got[ip][0] != served.reference[ip]}
        assert wrong == {}, tool


def test_every_implementation_fetched_the_large_txt_answer_over_tcp(served: Served) -> None:
    results(served)
    assert all(served.tcp_txt[tool] >= 1 for tool in TOOLS), served.tcp_txt
    assert served.errors == []


def test_a_kept_ptr_vendor_after_two_void_lookups() -> None:
    """The ptr mechanism's void PTR answer counts against RFC 7208 §4.6.4's limit of 2, at every implementation:
    an unapproved address meets the exists tree (void 1), vendor-c's exists:%{i} (void 2), then vendor-d's ptr
    without a PTR name (void 3): permerror."""
    world = StaticDnsClient({
        **WORLD,
        ("vendor-d.example", "TXT"): ["v=spf1 ptr:vendor-d.example -all"],
        ("5.0.51.198.in-addr.arpa", "PTR"): ["mta.vendor-d.example."],
        ("mta.vendor-d.example", "A"): ["198.51.0.5"],
    })
    p = SpfPolicy(DOMAIN, ZONE, includes=("vendor-a.example", "vendor-c.example", "vendor-d.example"),
                  mode=SpfMode.EXISTS)
    compiled = compile_spf(p, asyncio.run(resolve(p, world)))
    assert [name for name, _ in compiled.kept] == ["vendor-c.example", "vendor-d.example"]
    world.add(DOMAIN, "TXT", compiled.record.to_text())
    addresses = ["198.51.0.5", "198.51.100.1", "192.0.2.177", "192.0.2.178", "2001:db8:c::6"]
    server = ZoneServer([*apex_records(), *compiled.zone], (ZONE,), world)
    with serve(server) as port:
        got = {name: {ip: r for ip, (r, _why) in tool(port, addresses).items()}
               for name, tool in (("Mail::SPF", mail_spf), ("pyspf", pyspf), ("dmarcpilot", ours))}
    assert got["dmarcpilot"] == {"198.51.0.5": "pass", "198.51.100.1": "pass", "192.0.2.177": "pass",
                                 "192.0.2.178": "permerror", "2001:db8:c::6": "permerror"}
    assert got["Mail::SPF"] == got["pyspf"] == got["dmarcpilot"]


# --------------------------------------------------------------------------- the zone, to other DNS software


@pytest.fixture(scope="module")
def exists_zone() -> tuple[CompiledSpf, StaticDnsClient]:
    compiled, _res, world = _compile(SpfMode.EXISTS)
    return compiled, world


def _nsd_checkzone(path: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("nsd-checkzone") or "/usr/sbin/nsd-checkzone"
    _fail_without(tool, "nsd")
    return subprocess.run([tool, ZONE, str(path)], capture_output=True, text=True, timeout=60)


def test_nsd_checkzone_accepts_the_compiled_exists_zone(exists_zone: tuple[CompiledSpf, StaticDnsClient],
                                                        tmp_path: Path) -> None:
    compiled, _world = exists_zone
    text = master_file(ZONE, [*apex_records(), *compiled.zone])
    path = tmp_path / "zone"
    path.write_text(text)
    proc = _nsd_checkzone(path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"zone {ZONE} is ok" in proc.stdout + proc.stderr
    wildcards = [line for line in text.splitlines() if line.startswith("*.")]
    assert len(wildcards) > 20 and all(" IN A 127.0.0.2" in line for line in wildcards)


def test_nsd_checkzone_rejects_a_broken_zone(exists_zone: tuple[CompiledSpf, StaticDnsClient],
                                             tmp_path: Path) -> None:
    """The control: the same file with a CNAME next to other data at one name (RFC 1034 §3.6.2)."""
    compiled, _world = exists_zone
    text = master_file(ZONE, [*apex_records(), *compiled.zone])
    owner = next(r.name for r in compiled.zone if r.name.startswith("*."))
    path = tmp_path / "zone"
    path.write_text(text + f"{owner}. 3600 IN CNAME elsewhere.example.\n")
    proc = _nsd_checkzone(path)
    assert proc.returncode != 0, proc.stdout + proc.stderr


@dataclass(frozen=True)
class Kdig:
    status: str
    flags: tuple[str, ...]
    answers: list[str]  # rdata of the answer section
    soa_in_authority: bool
    transport: str  # "UDP" or "TCP", as kdig reports it


def _kdig(port: int, name: str, rdtype: str, *options: str) -> Kdig:
    tool = shutil.which("kdig") or "/usr/bin/kdig"
    _fail_without(tool, "knot-dnsutils")
    proc = subprocess.run([tool, "@127.0.0.1", "-p", str(port), "+norecurse", "+timeout=5", "+retry=1", *options,
                           name, rdtype], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    status, flags = re.search(r"status: (\w+)", out), re.search(r"Flags: ([^;]*);", out)
    transport = re.search(r"^;; From 127\.0\.0\.1@\d+\((\w+)\)", out, re.MULTILINE)
    assert status is not None and flags is not None and transport is not None, out
    authority = out.split(";; AUTHORITY SECTION:")[1] if ";; AUTHORITY SECTION:" in out else ""
    return Kdig(status.group(1), tuple(flags.group(1).split()),
                re.findall(rf"^\S+\s+\d+\s+IN\s+{rdtype}\s+(.+)$", out.split(";; AUTHORITY SECTION:")[0], re.MULTILINE),
                re.search(rf"^{re.escape(ZONE)}\.\s+\d+\s+IN\s+SOA\s", authority, re.MULTILINE) is not None,
                transport.group(1))


@pytest.mark.parametrize(("transport", "options"), [("udp", ()), ("tcp", ("+tcp",))])
def test_kdig_gets_synthesised_answers_and_nxdomain(exists_zone: tuple[CompiledSpf, StaticDnsClient],
                                                    transport: str, options: tuple[str, ...]) -> None:
    compiled, world = exists_zone
    approved = f"17.100.51.198.in-addr._spf.{ZONE}"  # vendor-a's 198.51.100.0/24: the wildcard *.100.51.198...
    approved6 = f"{_nibbles('2001:db8:a::1')[::-1]}.ip6._spf.{ZONE}"  # vendor-a's 2001:db8:a::/48
    unapproved = f"1.101.51.198.in-addr._spf.{ZONE}"
    names = {r.name for r in compiled.zone}
    assert f"*.100.51.198.in-addr._spf.{ZONE}" in names and approved not in names
    server = ZoneServer([*apex_records(), *compiled.zone], (ZONE,), world)
    with serve(server) as port:
        found, found6 = _kdig(port, approved, "A", *options), _kdig(port, approved6, "A", *options)
        nodata = _kdig(port, approved, "TXT", *options)  # the synthesised name exists, without TXT
        missing = _kdig(port, unapproved, "A", *options)
    assert (found.status, found.answers, "aa" in found.flags) == ("NOERROR", ["127.0.0.2"], True)
    assert (found6.status, found6.answers) == ("NOERROR", ["127.0.0.2"])
    assert (nodata.status, nodata.answers, nodata.soa_in_authority) == ("NOERROR", [], True)
    assert (missing.status, missing.answers, missing.soa_in_authority) == ("NXDOMAIN", [], True)
    assert {found.transport, found6.transport, nodata.transport, missing.transport} == {transport.upper()}
    assert server.queries[(approved, "A", transport)] == 1
    assert server.queries[(unapproved, "A", transport)] == 1
    assert server.errors == []
