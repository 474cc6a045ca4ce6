"""Zone transfers out (AXFR, RFC 5936; IXFR answered in full, RFC 1995 §4) and NOTIFY (RFC 1996).

A transfer is allowed only from the configured networks and, when a TSIG
key is configured, only when the query is signed with it (RFC 5936 §6;
TSIG, RFC 8945). A peer that is not allowed gets REFUSED; a query whose
signature does not verify never gets this far (the responder answers
NOTAUTH, RFC 8945 §5.2). Every message of a signed transfer is signed,
each chained to the previous one's MAC (RFC 8945 §5.3.1).
"""

from __future__ import annotations

import asyncio
import io
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig

from dmarcpilot.dnsserver.authority import Authority, Zone, labels_of
from dmarcpilot.dnsserver.wire import OUR_PAYLOAD

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
MESSAGE_BUDGET = 16_000  # octets of records per transfer message (uncompressed size; well under 65535)


@dataclass(frozen=True, slots=True)
class TransferPolicy:
    """Who may transfer the zones: addresses in ``networks``, and with ``key`` when one is set."""

    networks: tuple[IPNetwork, ...] = ()
    key: dns.tsig.Key | None = None

    @property
    def keyring(self) -> dict[dns.name.Name, dns.tsig.Key] | None:
        return {self.key.name: self.key} if self.key is not None else None

    def refusal(self, query: dns.message.Message, peer: str) -> str | None:
        """Why ``peer`` may not transfer with ``query``, or ``None`` when it may."""
        if not self.allows_address(peer):
            return f"{peer} is not in --allow-transfer"
        if self.key is not None and not (query.had_tsig and query.keyname == self.key.name):
            return f"{peer} did not sign with the TSIG key {self.key.name}"
        return None

    def allows_address(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def transfer(query: dns.message.Message, authority: Authority, peer: str, tcp: bool,
             policy: TransferPolicy) -> tuple[tuple[bytes, ...], str | None]:
    """The messages answering an AXFR or IXFR query, and the reason when refused."""
    question = query.question[0]
    why = policy.refusal(query, peer)
    if why is not None:  # RFC 5936 §6: transfers only to whom the operator allows
        return (_error(query, dns.rcode.REFUSED),), why
    zone = authority.zones.get(labels_of(question.name)) if question.rdclass == dns.rdataclass.IN else None
    if zone is None:  # RFC 5936 §2.2.1: not authoritative for that zone
        return (_error(query, dns.rcode.NOTAUTH),), f"{peer} asked for {question.name}, not a zone served"
    if not tcp:
        if question.rdtype == dns.rdatatype.IXFR:  # RFC 1995 §2: too big for UDP, the SOA alone
            return (_messages(query, [[zone.soa.rrset]])[0],), None
        return (_error(query, dns.rcode.REFUSED),), f"{peer}: AXFR over UDP (RFC 5936 §4.2: TCP only)"
    rrsets = [*zone.transfer_rrsets(), zone.soa.rrset]  # RFC 5936 §2.2: the SOA first and last
    return tuple(_messages(query, _chunks(rrsets))), None


def _chunks(rrsets: list[dns.rrset.RRset]) -> list[list[dns.rrset.RRset]]:
    """RRsets grouped so that each group fits one message whatever the compression."""
    chunks: list[list[dns.rrset.RRset]] = [[]]
    size = 0
    for rrset in rrsets:
        buffer = io.BytesIO()
        rrset.to_wire(buffer)
        wire = len(buffer.getvalue())
        if chunks[-1] and size + wire > MESSAGE_BUDGET:
            chunks.append([])
            size = 0
        chunks[-1].append(rrset)
        size += wire
    return chunks


def _messages(query: dns.message.Message, chunks: list[list[dns.rrset.RRset]]) -> list[bytes]:
    out: list[bytes] = []
    tsig_ctx = None
    for index, chunk in enumerate(chunks):
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD, pad=0)
        response.flags |= dns.flags.AA  # RFC 5936 §2.2.1
        if index:
            response.question = []  # RFC 5936 §2.2.1: the question in the first message only
        response.answer = list(chunk)
        wire = response.to_wire(max_size=65535, multi=len(chunks) > 1, tsig_ctx=tsig_ctx)
        tsig_ctx = response.tsig_ctx
        out.append(wire)
    return out


def _error(query: dns.message.Message, rcode: dns.rcode.Rcode) -> bytes:
    response = dns.message.make_response(query, our_payload=OUR_PAYLOAD, pad=0)
    response.set_rcode(rcode)
    return response.to_wire()


# ---------------------------------------------------------------------------- NOTIFY


@dataclass(frozen=True, slots=True)
class Secondary:
    host: str  # an IP address
    port: int = 53

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


NOTIFY_TRIES = 5  # RFC 1996 §3.6: retransmit until answered, a few times
NOTIFY_TIMEOUT = 1.0  # seconds, doubled after each try


def notify_message(zone: Zone, key: dns.tsig.Key | None) -> dns.message.Message:
    """NOTIFY for ``zone``: opcode NOTIFY, AA, the SOA as question and answer (RFC 1996 §3.3, §3.7)."""
    message = dns.message.make_query(zone.origin_name, dns.rdatatype.SOA)
    message.flags = dns.flags.AA  # the opcode lives in the flags word too: set it after
    message.set_opcode(dns.opcode.NOTIFY)
    message.answer.append(zone.soa.rrset)
    if key is not None:
        message.use_tsig({key.name: key}, key.name)
    return message


async def notify(zone: Zone, secondary: Secondary, key: dns.tsig.Key | None = None) -> bool:
    """Tell ``secondary`` that ``zone`` changed; ``True`` once it answered without error."""
    timeout = NOTIFY_TIMEOUT
    for attempt in range(1, NOTIFY_TRIES + 1):
        message = notify_message(zone, key)
        try:
            response = await dns.asyncquery.udp(message, secondary.host, timeout=timeout, port=secondary.port)
        except (dns.exception.DNSException, OSError) as exc:
            log.info("NOTIFY %s serial %d to %s: try %d: %s", zone.apex, zone.serial, secondary, attempt,
                     exc or type(exc).__name__)
            timeout *= 2
            continue
        if response.rcode() == dns.rcode.NOERROR:
            log.info("NOTIFY %s serial %d to %s: acknowledged", zone.apex, zone.serial, secondary)
            return True
        log.warning("NOTIFY %s serial %d to %s: %s", zone.apex, zone.serial, secondary,
                    dns.rcode.to_text(response.rcode()))
        return False
    log.warning("NOTIFY %s serial %d to %s: no answer after %d tries", zone.apex, zone.serial, secondary,
                NOTIFY_TRIES)
    return False


async def notify_all(zones: Iterable[Zone], secondaries: Iterable[Secondary],
                     key: dns.tsig.Key | None = None) -> list[bool]:
    secondaries = list(secondaries)
    jobs = [notify(zone, secondary, key) for zone in zones for secondary in secondaries]
    return list(await asyncio.gather(*jobs))
