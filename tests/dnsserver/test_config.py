"""The server's settings as the command line writes them, and the CLI's refusals."""

from __future__ import annotations

import ipaddress

import dns.name
import dns.tsig
import pytest
from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from dmarcpilot.dnsserver.config import parse_endpoint, parse_network, parse_secondary, parse_tsig_key
from dmarcpilot.dnsserver.transfer import Secondary, TransferPolicy
from dmarcpilot.dnsserver.transport import Endpoint
from dmarcpilot.errors import ConfigError
from tests.dnsserver.helpers import TSIG_SECRET


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:5353", Endpoint("127.0.0.1", 5353)),
    ("[::1]:53", Endpoint("::1", 53)),
    ("[2001:db8::1]", Endpoint("2001:db8::1", 5353)),
    ("::", Endpoint("::", 5353)),
    ("0.0.0.0", Endpoint("0.0.0.0", 5353)),
    ("127.0.0.1:0", Endpoint("127.0.0.1", 0)),
])
def test_endpoints(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text, 5353) == expected


@pytest.mark.parametrize("text", ["localhost:53", "127.0.0.1:99999", "127.0.0.1:x", "[::1]53", "1.2.3:53"])
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_endpoint(text)


def test_tsig_key_and_transfer_policy() -> None:
    key = parse_tsig_key(f"xfr-key:hmac-sha256:{TSIG_SECRET}")
    assert key.name == dns.name.from_text("xfr-key.") and key.algorithm == dns.tsig.HMAC_SHA256
    for bad in ("xfr-key:hmac-sha256", f"k:hmac-md4:{TSIG_SECRET}", "k:hmac-sha256:not*base64",
                "k:hmac-sha256:c2hvcnQ="):  # missing part, unknown algorithm, not base64, 5 octets
        with pytest.raises(ConfigError):
            parse_tsig_key(bad)
    policy = TransferPolicy((parse_network("192.0.2.0/24"), parse_network("2001:db8::1")))
    assert policy.allows_address("192.0.2.9") and policy.allows_address("::ffff:192.0.2.9")
    assert policy.allows_address("2001:db8::1") and not policy.allows_address("2001:db8::2")
    assert not policy.allows_address("198.51.100.1") and not policy.allows_address("not an address")
    assert parse_network("10.1.2.3/8") == ipaddress.ip_network("10.0.0.0/8")  # host bits ignored
    assert parse_secondary("192.0.2.53") == Secondary("192.0.2.53", 53)


@pytest.mark.parametrize(("args", "message"), [
    (["--listen", "nowhere"], "expected an IP address and a port"),
    (["--tsig-key", "k:hmac-sha256:c2hvcnQ="], "use at least 16"),
    (["--allow-transfer", "10.0.0.0/33"], "not an address or network"),
    (["--notify", "ns2.example:53"], "expected an IP address"),
])
def test_cli_refuses_bad_settings(sqlite_url: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "dns", "serve", *args])
    assert result.exit_code == 2 and message in result.output
