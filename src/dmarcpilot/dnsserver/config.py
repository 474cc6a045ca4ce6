"""The server's settings, declared once, and the parsers of their command-line forms."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.tsig

from dmarcpilot.dnsserver.responder import DEFAULT_CACHE_SIZE
from dmarcpilot.dnsserver.transfer import IPNetwork, Secondary, TransferPolicy
from dmarcpilot.dnsserver.transport import TCP_IDLE_TIMEOUT, TCP_MAX_CONNECTIONS, Endpoint
from dmarcpilot.errors import ConfigError

DEFAULT_LISTEN = Endpoint("127.0.0.1", 5353)
TSIG_ALGORITHMS = {
    "hmac-sha256": dns.tsig.HMAC_SHA256, "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512, "hmac-sha224": dns.tsig.HMAC_SHA224, "hmac-sha1": dns.tsig.HMAC_SHA1,
}


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: tuple[Endpoint, ...] = (DEFAULT_LISTEN,)
    metrics: Endpoint | None = None
    reload_interval: float = 5.0  # seconds between recompiles of the zones from the store
    allow_transfer: tuple[IPNetwork, ...] = ()  # nobody by default
    tsig_key: dns.tsig.Key | None = None
    notify: tuple[Secondary, ...] = ()
    cache_size: int = DEFAULT_CACHE_SIZE
    tcp_idle_timeout: float = TCP_IDLE_TIMEOUT
    tcp_max_connections: int = TCP_MAX_CONNECTIONS

    @property
    def transfers(self) -> TransferPolicy:
        return TransferPolicy(self.allow_transfer, self.tsig_key)


def parse_endpoint(text: str, default_port: int = 53) -> Endpoint:
    """``ADDRESS:PORT``, ``[IPv6]:PORT``, or a bare address (``default_port``)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else None
        if rest and port_text is None:
            raise ConfigError(f"{text!r}: expected [IPv6]:PORT")
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host, port_text = text, None  # an IPv4 address alone, or an IPv6 address without brackets
    try:
        ipaddress.ip_address(host)
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigError(f"{text!r}: expected an IP address and a port, e.g. 127.0.0.1:5353 or [::1]:5353") \
            from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{text!r}: port out of range")
    return Endpoint(host, port)


def parse_network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ConfigError(f"{text!r} is not an address or network (CIDR)") from None


def parse_tsig_key(text: str) -> dns.tsig.Key:
    """``NAME:ALGORITHM:BASE64`` (the algorithm as ``hmac-sha256``, the secret in base64)."""
    parts = text.split(":", 2)
    if len(parts) != 3:
        raise ConfigError("--tsig-key expects NAME:ALGORITHM:BASE64, e.g. xfr.:hmac-sha256:c2VjcmV0...")
    name, algorithm, secret = parts
    if algorithm.lower() not in TSIG_ALGORITHMS:
        raise ConfigError(f"TSIG algorithm {algorithm!r} not supported: one of {', '.join(sorted(TSIG_ALGORITHMS))}")
    try:
        raw = base64.b64decode(secret, validate=True)
        key_name = dns.name.from_text(name)
    except (binascii.Error, ValueError, dns.exception.DNSException) as exc:
        raise ConfigError(f"--tsig-key {name}: {exc}") from None
    if len(raw) < 16:
        raise ConfigError(f"--tsig-key {name}: the secret is {len(raw)} octets; use at least 16")
    return dns.tsig.Key(key_name, raw, TSIG_ALGORITHMS[algorithm.lower()])


def parse_secondary(text: str) -> Secondary:
    endpoint = parse_endpoint(text, 53)
    return Secondary(endpoint.host, endpoint.port)
