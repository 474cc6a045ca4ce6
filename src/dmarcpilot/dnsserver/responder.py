"""One query in, the reply out: the cache of encoded answers first, dnspython for everything else.

Fast path (:func:`dmarcpilot.dnsserver.wire.parse`): the cache key, an
LRU hit or one encoding, then the query's ID and question-name bytes
copied over the cached answer. A zone swap clears the cache.

Slow path, in the order a query can fail (each boundary maps errors once,
to an rcode):

* shorter than a header, or a response (QR=1): silence (nothing to answer,
  and answering responses invites loops);
* an opcode other than QUERY and NOTIFY: NOTIMP, the header alone (RFC 1035 §4.1.1);
* not parseable: FORMERR with the ID, no sections (RFC 1035 §4.1.1);
* TSIG that does not verify (unknown key, bad MAC, bad time): NOTAUTH
  (RFC 8945 §5.2);
* EDNS version above 0: BADVERS (RFC 6891 §6.1.3);
* not exactly one question: FORMERR;
* NOTIFY: REFUSED (we are the primary: nothing to refresh);
* AXFR/IXFR: :func:`dmarcpilot.dnsserver.transfer.transfer`;
* a signed query: answered and signed, never cached;
* anything else: the cached path with the key dnspython's parse gives.

Over UDP an answer larger than the client's limit (512 without EDNS, its
payload size up to ours with it, RFC 6891 §6.2.5) goes out truncated, TC
set and no records (RFC 2181 §9), and the client retries over TCP.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import dns.tsig

from dmarcpilot.dnsserver.authority import Authority
from dmarcpilot.dnsserver.metrics import Event, Label, Metrics, qtype_label
from dmarcpilot.dnsserver.transfer import TransferPolicy, transfer
from dmarcpilot.dnsserver.wire import (
    OUR_PAYLOAD,
    TCP_MAXIMUM,
    Encoded,
    Key,
    encode,
    fill,
    header_only,
    key_of,
    parse,
    resolve,
    udp_limit,
)

log = logging.getLogger(__name__)

DEFAULT_CACHE_SIZE = 20_000  # encoded answers kept (least recently used dropped beyond)
_TSIG_FAILURES = (dns.message.UnknownTSIGKey, dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.BadKey,
                  dns.tsig.BadAlgorithm, dns.tsig.PeerError)


class _Throttled:
    """Warnings any client can trigger, at most ``limit`` a minute (a flood must not flood the log too)."""

    def __init__(self, logger: logging.Logger, limit: int = 20, period: float = 60.0) -> None:
        self.logger, self.limit, self.period = logger, limit, period
        self.window_start, self.count = 0.0, 0

    def warn(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self.window_start > self.period:
            if self.count > self.limit:
                self.logger.warning("%d more such warnings in the last %.0f s not logged", self.count - self.limit,
                                    self.period)
            self.window_start, self.count = now, 0
        self.count += 1
        if self.count <= self.limit:
            self.logger.warning(message, *args)


class _Entry:
    """A cached answer with its metric labels computed once."""

    __slots__ = ("encoded", "tc_label", "tcp_label", "udp_label")

    def __init__(self, encoded: Encoded) -> None:
        self.encoded = encoded
        qtype = qtype_label(encoded.qtype)
        self.udp_label: Label = (encoded.rcode, qtype, "udp", False)
        self.tc_label: Label = (encoded.rcode, qtype, "udp", True)
        self.tcp_label: Label = (encoded.rcode, qtype, "tcp", False)


class Responder:
    """Answers queries from an :class:`Authority`; swap it with :meth:`swap` (the cache is cleared)."""

    def __init__(self, authority: Authority | None = None, *, metrics: Metrics | None = None,
                 transfers: TransferPolicy | None = None, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.authority = authority or Authority()
        self.metrics = metrics or Metrics()
        self.transfers = transfers or TransferPolicy()
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[Key, _Entry] = OrderedDict()
        self._keyring = self.transfers.keyring
        self._warnings = _Throttled(log)
        self.metrics.gauges["cache_entries"] = lambda: len(self._cache)

    def swap(self, authority: Authority) -> None:
        self.authority = authority
        self._cache.clear()

    def answer(self, wire: bytes, peer: str, tcp: bool) -> tuple[bytes, ...]:
        """The replies to ``wire`` from ``peer`` (one, several for a transfer, none for garbage)."""
        parsed = parse(wire)
        if parsed is None:
            return self._slow(wire, peer, tcp)
        key, end, limit = parsed
        entry = self._cache.get(key)
        if entry is None:
            entry = self._encode(key, wire[12:end])
        else:
            self._cache.move_to_end(key)
        full = entry.encoded.full
        if tcp:
            self.metrics.answers[entry.tcp_label] += 1
        elif len(full) > limit:
            full = entry.encoded.truncated
            self.metrics.answers[entry.tc_label] += 1
        else:
            self.metrics.answers[entry.udp_label] += 1
        return (wire[:2] + full[2:12] + wire[12:end] + full[end:],)

    def _encode(self, key: Key, qname: bytes) -> _Entry:
        entry = _Entry(encode(self.authority, key, qname))
        self._cache[key] = entry
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return entry

    # ------------------------------------------------------------------ slow path

    def _slow(self, wire: bytes, peer: str, tcp: bool) -> tuple[bytes, ...]:
        if len(wire) < 12 or wire[2] & 0x80:
            self.metrics.count(Event.DROPPED)
            return ()
        if (wire[2] >> 3) & 0xF not in (dns.opcode.QUERY, dns.opcode.NOTIFY):  # before parsing: no UPDATE parser
            return self._error(wire, dns.rcode.NOTIMP, tcp)
        try:
            query = dns.message.from_wire(wire, keyring=self._keyring)
        except _TSIG_FAILURES as exc:
            return self._error(wire, dns.rcode.NOTAUTH, tcp, f"{peer}: TSIG: {exc or type(exc).__name__}")
        except Exception:  # any parse failure of hostile bytes is FORMERR, never a crash
            return self._error(wire, dns.rcode.FORMERR, tcp)
        if query.edns > 0:
            return self._reply(query, dns.rcode.BADVERS, tcp)
        if len(query.question) != 1:
            return self._reply(query, dns.rcode.FORMERR, tcp)
        if query.opcode() == dns.opcode.NOTIFY:
            return self._reply(query, dns.rcode.REFUSED, tcp)
        if query.question[0].rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            return self._transfer(query, peer, tcp)
        if query.had_tsig:
            return (self._signed(query, tcp),)
        key, name = key_of(query)
        entry = self._cache.get(key) or self._encode(key, name)  # the same entry as the fast path's
        full = entry.encoded.full
        label = entry.tcp_label
        if not tcp:
            full, label = (full, entry.udp_label) if len(full) <= udp_limit(query) else \
                (entry.encoded.truncated, entry.tc_label)
        self.metrics.answers[label] += 1
        return (query.id.to_bytes(2, "big") + full[2:12] + name + full[12 + len(name):],)

    def _transfer(self, query: dns.message.Message, peer: str, tcp: bool) -> tuple[bytes, ...]:
        messages, why = transfer(query, self.authority, peer, tcp, self.transfers)
        if why is not None:
            self._warnings.warn("zone transfer refused: %s", why)
            self.metrics.count(Event.TRANSFER_REFUSED)
        else:
            self.metrics.count(Event.TRANSFER_OK)
            log.info("zone transfer of %s to %s: %d messages", query.question[0].name, peer, len(messages))
        return messages

    def _signed(self, query: dns.message.Message, tcp: bool) -> bytes:
        question = query.question[0]
        resolution = resolve(self.authority, key_of(query)[0])
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD, pad=0)
        response.flags |= query.flags & dns.flags.CD
        fill(response, resolution)
        self._count(int(resolution.rcode), int(question.rdtype), tcp)
        return response.to_wire(max_size=TCP_MAXIMUM if tcp else udp_limit(query), prefer_truncation=True)

    def _reply(self, query: dns.message.Message, rcode: dns.rcode.Rcode, tcp: bool) -> tuple[bytes, ...]:
        response = dns.message.make_response(query, our_payload=OUR_PAYLOAD, pad=0)
        response.set_rcode(rcode)
        qtype = int(query.question[0].rdtype) if len(query.question) == 1 else 0
        self._count(int(rcode), qtype, tcp)
        return (response.to_wire(max_size=TCP_MAXIMUM if tcp else udp_limit(query), prefer_truncation=True),)

    def _error(self, wire: bytes, rcode: dns.rcode.Rcode, tcp: bool, why: str | None = None) -> tuple[bytes, ...]:
        if why is not None:
            self._warnings.warn("%s", why)
        self._count(int(rcode), 0, tcp)
        return (header_only(wire, rcode),)

    def _count(self, rcode: int, qtype: int, tcp: bool) -> None:
        self.metrics.answers[(rcode, qtype_label(qtype), "tcp" if tcp else "udp", False)] += 1

