"""An analysis as bytes for the store (``store.snapshots``), so every process shares one computation.

A web process on another machine, a new CLI process, or the same process
after a restart reads the analysed sources of a window instead of folding
the rollups and attributing every source again. The payload is
zlib-compressed JSON (never pickle: the store is not trusted to run code),
one compact array per source. It is valid only for the ``version`` it was
written under: the store's data version for the domain (reports, decisions,
reverse DNS), the catalogue and the IP data, so nothing stale is served.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from datetime import date
from typing import Any

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.identify import Attribution, Confidence, SenderClass, SourceEvidence
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase, IpInfo

FORMAT = 4  # 2: repeated texts in a table; 3: evidence maps as JSON objects; 4: the basis in the header


def window_name(days: int, since: date, until: date | None) -> str:
    """The key of a window: its length and first day, and its last day when bounded."""
    return f"{days}:{since.isoformat()}" + (f":{until.isoformat()}" if until else "")


def snapshot_basis(data_version: Sequence[Any], catalogue: Catalogue, ipdb: IpDatabase) -> list[str]:
    """What an analysis is of: the store's data version for the domain, the catalogue, the IP data."""
    return [str(v) for v in data_version] + [catalogue.digest, ipdb.fingerprint]


def snapshot_version(basis: Sequence[str]) -> str:
    """The basis as one digest (the key a snapshot is stored and found under)."""
    return hashlib.sha256(json.dumps([FORMAT, list(basis)]).encode()).hexdigest()


@dataclass(frozen=True)
class Raw:
    """A snapshot parsed but not turned into objects: its basis, text table and encoded items by address."""

    basis: list[str] | None
    texts: list[Any]
    items: dict[str, list[Any]]

    def evidence(self, ip: str) -> SourceEvidence | None:
        """One source's counters and evidence, as kept."""
        item = self.items.get(ip)
        return None if item is None else SourceEvidence(*item[:8])

    def row(self, ip: str, catalogue: Catalogue) -> AnalysedSource | None:
        """One source as kept (None: not kept, or of a service this catalogue does not know)."""
        item = self.items.get(ip)
        return None if item is None else _Reader(self.texts, catalogue).row(item)


def parse(payload: bytes) -> Raw | None:
    """The snapshot parsed (None: another format, damaged), without building a row per source."""
    try:
        version, basis, texts, items = json.loads(zlib.decompress(payload))
        if version != FORMAT:
            return None
        return Raw(basis, texts, {item[0]: item for item in items})
    except (ValueError, TypeError, IndexError, KeyError, zlib.error):
        return None


@dataclass(frozen=True)
class Decoded(Raw):
    """A snapshot read back with a row per source (its items are reused when it is brought up to date)."""

    rows: list[AnalysedSource]


def encode(rows: Sequence[AnalysedSource], basis: Sequence[str] | None = None, previous: Raw | None = None,
           changed: Set[str] = frozenset()) -> bytes:
    """One compact array per source; repeated texts (owners, groups, classes) once in a table.

    ``basis``: the data version the rows are exactly of (``analysis.incremental``), when known.
    ``previous``: a snapshot whose items are reused for the sources not in ``changed``.
    """
    table = _Texts(previous.texts if previous else [])
    kept = previous.items if previous else {}
    out = []
    for r in rows:
        item = None if r.evidence.ip in changed else kept.get(r.evidence.ip)
        out.append(item if item is not None else _item(r, table.ref))
    return _dump(basis, table.texts, out)


def encode_update(previous: Raw, changed: Sequence[AnalysedSource], basis: Sequence[str] | None) -> bytes:
    """``previous`` with the sources in ``changed`` replaced or added, in the order ``analyse`` keeps."""
    table = _Texts(previous.texts)
    items = dict(previous.items)
    for row in changed:
        items[row.evidence.ip] = _item(row, table.ref)
    return _dump(basis, table.texts, sorted(items.values(), key=lambda item: (-item[1], item[0])))


class _Texts:
    """The table of repeated texts: each once, referred to by its index."""

    def __init__(self, texts: Sequence[Any]) -> None:
        self.texts = list(texts)
        self.index: dict[Any, int] = {text: index for index, text in enumerate(self.texts)}

    def ref(self, text: str | None) -> int:
        found = self.index.get(text)
        if found is None:
            found = self.index[text] = len(self.texts)
            self.texts.append(text)
        return found


def _item(r: AnalysedSource, ref: Callable[[str | None], int]) -> list[Any]:
    ev, info, att = r.evidence, r.info, r.attribution
    return [
        ev.ip, ev.messages, ev.dkim_aligned, ev.spf_aligned, ev.dmarc_pass,
        ev.dkim_pass_domains, ev.envelope_domains, ev.spf_pass_domains,
        ref(info.country), info.asn, ref(info.as_name), ref(info.as_domain), r.ptr, r.ptr_confirmed,
        ref(att.service.id if att.service else None), ref(att.confidence.value if att.confidence else None),
        [ref(e) for e in att.evidence], ref(att.group), ref(r.sender_class.value), ref(r.status),
    ]


def _dump(basis: Sequence[str] | None, texts: list[Any], items: list[list[Any]]) -> bytes:
    header = None if basis is None else list(basis)
    return zlib.compress(json.dumps([FORMAT, header, texts, items], separators=(",", ":")).encode(), 1)


def decode(payload: bytes, catalogue: Catalogue) -> list[AnalysedSource] | None:
    """The analysed sources, or None when the payload cannot be used (another format, unknown service)."""
    found = read(payload, catalogue)
    return None if found is None else found.rows


def read(payload: bytes, catalogue: Catalogue) -> Decoded | None:
    """The snapshot read back, or None when the payload cannot be used."""
    raw = parse(payload)
    if raw is None:
        return None
    try:
        rows = _rows(raw.texts, list(raw.items.values()), catalogue)
    except (ValueError, TypeError, IndexError, KeyError):
        return None
    return None if rows is None else Decoded(raw.basis, raw.texts, raw.items, rows)


def _rows(texts: list[Any], items: list[Any], catalogue: Catalogue) -> list[AnalysedSource] | None:
    reader = _Reader(texts, catalogue)
    out = []
    for item in items:
        row = reader.row(item)
        if row is None:
            return None
        out.append(row)
    return out


class _Reader:
    """Turns encoded items back into rows, sharing the IP data and attributions that repeat."""

    def __init__(self, texts: list[Any], catalogue: Catalogue) -> None:
        self.texts = texts
        self.services = catalogue.services
        self.infos: dict[tuple[Any, ...], IpInfo] = {}
        self.attributions: dict[tuple[Any, ...], Attribution | None] = {}
        self.classes: dict[int, SenderClass] = {}

    def row(self, item: list[Any]) -> AnalysedSource | None:
        """None: the item names a service this catalogue does not know (compute again)."""
        (ip, messages, dkim, spf, passed, dkim_domains, envelopes, spf_domains, country, asn, as_name,
         as_domain, ptr, confirmed, service_ref, confidence, evidence, group, sender_class, status) = item
        texts = self.texts
        key = (country, asn, as_name, as_domain)
        info = self.infos.get(key)
        if info is None:
            info = self.infos[key] = IpInfo(texts[country], asn, texts[as_name], texts[as_domain])
        akey = (service_ref, confidence, *evidence, group)
        if akey in self.attributions:
            attribution = self.attributions[akey]
        else:
            attribution = self.attributions[akey] = self._attribution(service_ref, confidence, evidence, group)
        if attribution is None:
            return None
        cls = self.classes.get(sender_class)
        if cls is None:
            cls = self.classes[sender_class] = SenderClass(texts[sender_class])
        source = SourceEvidence(ip, messages, dkim, spf, passed, dkim_domains, envelopes, spf_domains)
        return AnalysedSource(source, info, ptr, confirmed, attribution, cls, texts[status])

    def _attribution(self, service_ref: int, confidence: int, evidence: list[int], group: int) -> Attribution | None:
        texts = self.texts
        name = texts[service_ref]
        service = self.services.get(name) if isinstance(name, str) else None
        if service is None and name is not None:
            return None
        level = texts[confidence]
        return Attribution(service, Confidence(level) if level else None, tuple(texts[e] for e in evidence),
                           texts[group])


