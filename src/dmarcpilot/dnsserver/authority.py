"""Authoritative zones: immutable, built from :class:`ZoneRecord`, answering as RFC 1034 §4.3.2 says.

A :class:`Zone` holds its record sets by owner name and the set of names
that exist, records or not (empty non-terminals, RFC 4592 §2.2.2). A lookup
follows the algorithm of RFC 1034 §4.3.2:

* an existing name answers its RRset, or NODATA (no error, no answer, the
  SOA in the authority section, RFC 2308 §2.2);
* a CNAME at the name answers the CNAME and, when its target lies in the
  same zone, the target's answer after it (RFC 1034 §3.6.2, §4.3.2 step 3a;
  the rcode is the last name's, RFC 6604 §2.1);
* a name that does not exist is synthesised from the wildcard ``*`` child of
  its *closest encloser* (the nearest existing ancestor, RFC 4592 §3.3.1),
  with the queried name as owner (RFC 4592 §3.4.2); with no such wildcard it
  is NXDOMAIN with the SOA (RFC 2308 §2.1);
* below a zone cut (an NS RRset other than the apex's) the answer is a
  referral: not authoritative, the NS in the authority section, glue in
  the additional section (RFC 1034 §4.3.2 step 3b).

The SOA of a negative answer carries ``min(SOA TTL, SOA MINIMUM)`` as TTL
(RFC 2308 §3). Names are kept as tuples of lower-case labels (RFC 4343:
comparisons ignore ASCII case), so a lookup is a few dictionary probes on
tuples; each record set also keeps its RDATA in wire form, rendered once,
for :mod:`dmarcpilot.dnsserver.wire`. An :class:`Authority` holds several
zones and refuses names outside all of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import dns.exception
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.SOA
import dns.rdtypes.ANY.TXT
import dns.rrset

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.policy.zone import ZoneRecord
from dmarcpilot.records.dkim import txt_strings

IN = dns.rdataclass.IN
MAX_CHAIN = 8  # CNAMEs followed inside a zone before answering what we have (loops included)
WILDCARD = b"*"
SOA, NS, CNAME, ANY = (int(t) for t in (dns.rdatatype.SOA, dns.rdatatype.NS, dns.rdatatype.CNAME,
                                          dns.rdatatype.ANY))

#: A name as its lower-case labels, leftmost first, without the root: ("_dmarc", "_dmarcpilot", "example", "edu")
Labels = tuple[bytes, ...]


def labels_of(name: dns.name.Name) -> Labels:
    """An absolute name's labels in lower case (RFC 4343: ASCII only, as ``bytes.lower`` does)."""
    return tuple(label.lower() for label in name.labels[:-1])


def name_of(labels: Labels) -> dns.name.Name:
    return dns.name.Name((*labels, b""))


class ZoneError(DmarcpilotError):
    """Records that do not make a zone (no SOA, a name outside the apex, CNAME beside other data)."""


@dataclass(frozen=True, slots=True)
class RecordSet:
    """An RRset, and its RDATA in uncompressed wire form (RFC 3597 §4 allows it for every type)."""

    rrset: dns.rrset.RRset
    rdtype: int
    ttl: int
    rdatas: tuple[bytes, ...]

    @classmethod
    def of(cls, rrset: dns.rrset.RRset) -> RecordSet:
        return cls(rrset, int(rrset.rdtype), int(rrset.ttl), tuple(_wire(rdata) for rdata in rrset))

    def owned_by(self, owner: Labels) -> dns.rrset.RRset:
        """The RRset with ``owner`` as its name (a wildcard's records answer for the queried name)."""
        if labels_of(self.rrset.name) == owner:
            return self.rrset
        return dns.rrset.from_rdata_list(name_of(owner), self.rrset.ttl, list(self.rrset))


def _wire(rdata: dns.rdata.Rdata) -> bytes:
    wire = rdata.to_wire()
    assert wire is not None  # no file given: the bytes are returned
    return wire


#: (the owner to answer with, the records)
Owned = tuple[Labels, RecordSet]
Node = Mapping[int, RecordSet]
_EMPTY: Node = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a lookup found, section by section (RFC 1035 §4.1)."""

    rcode: dns.rcode.Rcode
    authoritative: bool
    answer: tuple[Owned, ...] = ()
    authority: tuple[Owned, ...] = ()
    additional: tuple[Owned, ...] = ()

    @staticmethod
    def rrsets(section: tuple[Owned, ...]) -> list[dns.rrset.RRset]:
        """A section as dnspython RRsets, each named as it is answered."""
        return [records.owned_by(owner) for owner, records in section]


REFUSED = Resolution(dns.rcode.REFUSED, False)  # not ours: never recursive, never an open resolver


def to_rdata(record: ZoneRecord) -> dns.rdata.Rdata:
    """A record's value as rdata: TXT split into <=255-octet strings, other types parsed as absolute names."""
    rdtype = dns.rdatatype.from_text(record.rdtype)
    if rdtype == dns.rdatatype.TXT:  # RFC 1035 §3.3.14, RFC 7208 §3.3: strings concatenated by the reader
        return dns.rdtypes.ANY.TXT.TXT(IN, rdtype, [s.encode() for s in txt_strings(record.value)])
    # values may lack the trailing dot: every name in them is absolute
    return dns.rdata.from_text(IN, rdtype, record.value, origin=dns.name.root, relativize=False)


@dataclass(frozen=True, slots=True)
class Zone:
    """One zone's record sets, indexed for lookups; build it with :meth:`from_records`."""

    origin: Labels
    soa: RecordSet
    nodes: Mapping[Labels, Node]
    names: frozenset[Labels]  # owners and their ancestors up to the apex: every name that exists
    cuts: frozenset[Labels]  # delegations below the apex
    digest: str = ""  # of the content, serial included: a new digest is a new zone
    negative_soa: RecordSet = field(init=False)

    def __post_init__(self) -> None:
        rdata = self.soa.rrset[0]
        assert isinstance(rdata, dns.rdtypes.ANY.SOA.SOA)
        negative = dns.rrset.from_rdata_list(self.soa.rrset.name, min(self.soa.ttl, rdata.minimum), [rdata])
        object.__setattr__(self, "negative_soa", RecordSet.of(negative))  # RFC 2308 §3

    @property
    def serial(self) -> int:
        soa = self.soa.rrset[0]
        assert isinstance(soa, dns.rdtypes.ANY.SOA.SOA)
        return int(soa.serial)

    @property
    def apex(self) -> str:
        return b".".join(self.origin).decode("ascii", "backslashreplace")

    @property
    def origin_name(self) -> dns.name.Name:
        return name_of(self.origin)

    @classmethod
    def from_records(cls, apex: str, records: Iterable[ZoneRecord]) -> Zone:
        origin = dns.name.from_text(apex, origin=dns.name.root)
        rrsets: dict[tuple[Labels, int], dns.rrset.RRset] = {}
        for record in records:
            owner = dns.name.from_text(record.name, origin=dns.name.root)
            if not owner.is_subdomain(origin):
                raise ZoneError(f"{record.name} is outside the zone {apex}")
            try:
                rdata = to_rdata(record)
            except (dns.exception.DNSException, ValueError) as exc:
                raise ZoneError(f"{record.name} {record.rdtype} {record.value!r}: {exc}") from None
            key = (labels_of(owner), int(rdata.rdtype))
            rrset = rrsets.get(key)
            if rrset is None:
                rrset = rrsets[key] = dns.rrset.RRset(name_of(key[0]), IN, rdata.rdtype)
            rrset.add(rdata, record.ttl)  # one TTL per RRset: the lowest (RFC 2181 §5.2)
        nodes: dict[Labels, dict[int, RecordSet]] = {}
        for (labels, rdtype), rrset in rrsets.items():
            nodes.setdefault(labels, {})[rdtype] = RecordSet.of(rrset)
        return cls._indexed(labels_of(origin), nodes)

    @classmethod
    def _indexed(cls, origin: Labels, nodes: dict[Labels, dict[int, RecordSet]]) -> Zone:
        soa = nodes.get(origin, {}).get(SOA)
        if soa is None or len(soa.rdatas) != 1:
            raise ZoneError(f"{b'.'.join(origin).decode()} needs exactly one SOA at its apex (RFC 1035 §5.2)")
        names = {origin}
        for owner, node in nodes.items():
            if CNAME in node and len(node) > 1:
                raise ZoneError(f"{name_of(owner)} has a CNAME and other data (RFC 1034 §3.6.2)")
            if owner != origin and SOA in node:
                raise ZoneError(f"{name_of(owner)}: an SOA below the apex")
            names.update(owner[i:] for i in range(len(owner) - len(origin)))
        cuts = frozenset(o for o, node in nodes.items() if o != origin and NS in node)
        content = "\n".join(sorted(r.rrset.to_text() for node in nodes.values() for r in node.values()))
        frozen = {owner: MappingProxyType(dict(node)) for owner, node in nodes.items()}
        return cls(origin, soa, MappingProxyType(frozen), frozenset(names), cuts,
                   hashlib.sha256(content.encode()).hexdigest())

    # ------------------------------------------------------------------ lookups

    def lookup(self, qname: Labels, qtype: int) -> Resolution:
        """The answer for ``qname`` (at or below the apex) and ``qtype``, CNAMEs inside the zone chased."""
        answer: list[Owned] = []
        name, seen = qname, {qname}
        for _step in range(MAX_CHAIN):
            cut = self._cut_above(name)
            if cut is not None:  # RFC 1034 §4.3.2 step 3b: a referral (after a CNAME: the CNAME alone)
                return Resolution(dns.rcode.NOERROR, True, tuple(answer)) if answer else self._referral(cut)
            node = self._find(name)
            if node is None:  # RFC 2308 §2.1 (after a CNAME too: RFC 6604 §2.1)
                return Resolution(dns.rcode.NXDOMAIN, True, tuple(answer), ((self.origin, self.negative_soa),))
            found = [(name, r) for _t, r in sorted(node.items())] if qtype == ANY else \
                [(name, node[qtype])] if qtype in node else []  # ANY: every RRset of the name (ours, small)
            if found:
                return Resolution(dns.rcode.NOERROR, True, (*answer, *found))
            cname = node.get(CNAME)
            if cname is None:  # NODATA, RFC 2308 §2.2
                return Resolution(dns.rcode.NOERROR, True, tuple(answer), ((self.origin, self.negative_soa),))
            answer.append((name, cname))
            rdata = cname.rrset[0]
            assert isinstance(rdata, dns.rdtypes.ANY.CNAME.CNAME)
            target = labels_of(rdata.target)
            if not self.holds(target) or target in seen:
                return Resolution(dns.rcode.NOERROR, True, tuple(answer))  # the resolver follows it elsewhere
            name = target
            seen.add(name)
        return Resolution(dns.rcode.NOERROR, True, tuple(answer))

    def holds(self, name: Labels) -> bool:
        """Whether ``name`` is at or below the apex."""
        return len(name) >= len(self.origin) and name[len(name) - len(self.origin):] == self.origin

    def _find(self, name: Labels) -> Node | None:
        """The node answering for ``name``: its own (empty for an empty non-terminal), its wildcard's, or none."""
        if name in self.names:
            return self.nodes.get(name, _EMPTY)  # empty non-terminals exist too (RFC 4592 §2.2.2)
        encloser = name[1:]  # RFC 4592 §3.3.1: the closest encloser is the nearest existing ancestor
        while encloser not in self.names:
            encloser = encloser[1:]
        source = (WILDCARD, *encloser)
        if source in self.names:  # the source of synthesis, an empty non-terminal or not (RFC 4592 §3.3.1)
            return self.nodes.get(source, _EMPTY)
        return None

    def _cut_above(self, name: Labels) -> Labels | None:
        if not self.cuts:
            return None
        while len(name) > len(self.origin):
            if name in self.cuts:
                return name
            name = name[1:]
        return None

    def _referral(self, cut: Labels) -> Resolution:
        ns = self.nodes[cut][NS]
        glue: list[Owned] = []
        for rdata in ns.rrset:
            assert isinstance(rdata, dns.rdtypes.ANY.NS.NS)
            target = labels_of(rdata.target)
            node = self.nodes.get(target, _EMPTY)
            glue.extend((target, node[t]) for t in (int(dns.rdatatype.A), int(dns.rdatatype.AAAA)) if t in node)
        return Resolution(dns.rcode.NOERROR, False, (), ((cut, ns),), tuple(glue))

    def transfer_rrsets(self) -> list[dns.rrset.RRset]:
        """The zone's RRsets for AXFR: the SOA first, then every other RRset by owner (RFC 5936 §2.2)."""
        rest = [records.rrset for owner in sorted(self.nodes, key=lambda labels: labels[::-1])
                for rdtype, records in sorted(self.nodes[owner].items())
                if not (owner == self.origin and rdtype == SOA)]
        return [self.soa.rrset, *rest]


@dataclass(frozen=True, slots=True)
class Authority:
    """The zones served, by apex; names in none of them are refused."""

    zones: Mapping[Labels, Zone] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, zones: Iterable[Zone]) -> Authority:
        return cls(MappingProxyType({z.origin: z for z in zones}))

    def zone_for(self, qname: Labels) -> Zone | None:
        """The zone holding ``qname``: the one with the longest apex above it."""
        zones = self.zones
        for start in range(len(qname) + 1):
            zone = zones.get(qname[start:])
            if zone is not None:
                return zone
        return None

    def lookup(self, qname: Labels, qtype: int, qclass: int) -> Resolution:
        if qclass != IN:
            return REFUSED
        zone = self.zone_for(qname)
        return REFUSED if zone is None else zone.lookup(qname, qtype)

    def resolve(self, qname: dns.name.Name, qtype: dns.rdatatype.RdataType,
                qclass: dns.rdataclass.RdataClass = IN) -> Resolution:
        """:meth:`lookup` for a dnspython name."""
        return self.lookup(labels_of(qname), int(qtype), int(qclass))
