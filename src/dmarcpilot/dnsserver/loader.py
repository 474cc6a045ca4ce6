"""The zones to serve, compiled from the store: every configured domain's hosted zone.

Each load compiles every domain of ``domain_settings`` offline (the last
SPF snapshots, no DNS: :func:`dmarcpilot.policy.publisher.publication`
with no client), numbers the zone with the store's serial for the hosted
records' digest (the same one ``dmarcpilot zone`` uses, so every process
agrees), and builds a :class:`Zone`. A domain whose compile fails, whose
proof does not hold, or whose records do not make a zone keeps the zone
it had; the error is reported, never raised. Loads run in a worker thread
(the store and the compiler block), so the loop keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from dmarcpilot.dnsserver.authority import Zone, ZoneError
from dmarcpilot.enrich.catalogue import Catalogue, load_catalogue
from dmarcpilot.policy.publish import Publication, publication_digest, zone_records
from dmarcpilot.policy.publisher import publication
from dmarcpilot.store.publishing import configured_domains, zone_serial

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A domain's zone as served, with the digest of the hosted records its serial was taken for."""

    domain: str
    zone: Zone
    hosted_digest: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    loaded: Mapping[str, Loaded]  # by domain: everything to serve now
    changed: tuple[Zone, ...]  # zones new or different since the previous load
    errors: tuple[str, ...]

    @property
    def zones(self) -> tuple[Zone, ...]:
        return tuple(entry.zone for entry in self.loaded.values())


class ZoneLoader:
    def __init__(self, engine: sa.Engine, catalogue: Catalogue | None = None, proof_sample: int = 200) -> None:
        self.engine = engine
        self.catalogue = catalogue if catalogue is not None else load_catalogue()
        self.proof_sample = proof_sample

    def load(self, previous: Mapping[str, Loaded]) -> LoadResult:
        """Compile every domain; keep ``previous`` zones where that fails. Blocking: run it in a thread."""
        try:
            domains = configured_domains(self.engine)
        except sa.exc.SQLAlchemyError as exc:
            return LoadResult(dict(previous), (), (f"cannot list the domains: {exc}",))
        publications = asyncio.run(self._compile(domains))
        loaded: dict[str, Loaded] = {}
        changed: list[Zone] = []
        errors: list[str] = []
        apexes: dict[str, str] = {}
        for domain in domains:
            old = previous.get(domain)
            outcome = publications[domain]
            entry = self._zone(domain, outcome, old) if isinstance(outcome, Publication) else outcome
            if isinstance(entry, str):
                errors.append(entry)
                if old is None:
                    continue
                entry = old  # keeps serving what it served
            first = apexes.setdefault(entry.zone.apex, domain)
            if first != domain:
                errors.append(f"{domain}: hosted zone {entry.zone.apex} is already served for {first}")
                continue
            loaded[domain] = entry
            if old is None or old.zone.digest != entry.zone.digest:
                changed.append(entry.zone)
        return LoadResult(loaded, tuple(changed), tuple(errors))

    async def _compile(self, domains: list[str]) -> dict[str, Publication | str]:
        out: dict[str, Publication | str] = {}
        for domain in domains:
            try:
                pub, _changes = await publication(self.engine, domain, self.catalogue, None, self.proof_sample)
            except Exception as exc:  # the compiler's or the store's: this domain keeps its zone
                out[domain] = f"{domain}: compiling its publication failed: {type(exc).__name__}: {exc}"
                continue
            out[domain] = pub if pub.proof.holds else \
                f"{domain}: the compiled SPF record differs from the approvals for {len(pub.proof.mismatches)} of " \
                f"{pub.proof.checked} addresses checked: not served"
        return out

    def _zone(self, domain: str, pub: Publication, old: Loaded | None) -> Loaded | str:
        apex = pub.settings.hosted_zone
        hosted = publication_digest(pub)
        try:
            if old is not None and old.hosted_digest == hosted and old.zone.apex == apex:
                serial = old.zone.serial  # same content: same serial, no write to the store
            else:
                serial = zone_serial(self.engine, apex, hosted)
            zone = Zone.from_records(apex, zone_records(pub, serial))
        except (ZoneError, sa.exc.SQLAlchemyError) as exc:
            return f"{domain}: zone {apex}: {exc}"
        if old is not None and old.zone.digest == zone.digest:
            return old  # unchanged: the same object, so the answer cache stays valid
        return Loaded(domain, zone, hosted)
