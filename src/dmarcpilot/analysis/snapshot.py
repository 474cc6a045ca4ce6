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
from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.identify import Attribution, Confidence, SenderClass, SourceEvidence
from dmarcpilot.enrich.catalogue import Catalogue
from dmarcpilot.enrich.ipdata import IpDatabase, IpInfo

FORMAT = 1


def window_name(days: int, since: date, until: date | None) -> str:
    """The key of a window: its length and first day, and its last day when bounded."""
    return f"{days}:{since.isoformat()}" + (f":{until.isoformat()}" if until else "")


def snapshot_version(data_version: tuple[Any, ...], catalogue: Catalogue, ipdb: IpDatabase) -> str:
    """What an analysis depends on, as one digest."""
    parts = [FORMAT, [str(v) for v in data_version], catalogue.digest, ipdb.fingerprint]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def encode(rows: Sequence[AnalysedSource]) -> bytes:
    out = []
    for r in rows:
        ev, info, att = r.evidence, r.info, r.attribution
        out.append([
            ev.ip, ev.messages, ev.dkim_aligned, ev.spf_aligned, ev.dmarc_pass,
            dict(ev.dkim_pass_domains), dict(ev.envelope_domains), dict(ev.spf_pass_domains),
            info.country, info.asn, info.as_name, info.as_domain, r.ptr, r.ptr_confirmed,
            att.service.id if att.service else None, att.confidence.value if att.confidence else None,
            list(att.evidence), att.group, r.sender_class.value, r.status,
        ])
    return zlib.compress(json.dumps([FORMAT, out], separators=(",", ":")).encode(), 1)


def decode(payload: bytes, catalogue: Catalogue) -> list[AnalysedSource] | None:
    """The analysed sources, or None when the payload cannot be used (another format, unknown service)."""
    try:
        version, items = json.loads(zlib.decompress(payload))
    except (ValueError, zlib.error):
        return None
    if version != FORMAT:
        return None
    services = catalogue.services
    infos: dict[tuple[Any, ...], IpInfo] = {}
    out = []
    try:
        for (ip, messages, dkim, spf, passed, dkim_domains, envelopes, spf_domains, country, asn, as_name,
             as_domain, ptr, confirmed, service_id, confidence, evidence, group, sender_class, status) in items:
            service = None
            if service_id is not None:
                service = services.get(service_id)
                if service is None:
                    return None
            key = (country, asn, as_name, as_domain)
            info = infos.get(key) or infos.setdefault(key, IpInfo(country, asn, as_name, as_domain))
            source = SourceEvidence(ip, messages, dkim, spf, passed, Counter(dkim_domains), Counter(envelopes),
                                    Counter(spf_domains))
            attribution = Attribution(service, Confidence(confidence) if confidence else None, tuple(evidence),
                                      group)
            out.append(AnalysedSource(source, info, ptr, confirmed, attribution, SenderClass(sender_class),
                                      status))
    except (TypeError, ValueError):
        return None
    return out
