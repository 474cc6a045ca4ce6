"""The service catalogue: who sends mail on an organisation's behalf, and how to tell.

Data: the ``*.toml`` files beside this module (format and rules in
``README.md``). Every entry's evidence comes from the service's own public
documentation, listed in its ``sources``. Matching uses the evidence that
the reports and the IP data already hold (DKIM signing domains, envelope
domains, reverse DNS, ASN); a network that hosts many customers is never
evidence of a service by itself.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from dmarcpilot.errors import DmarcpilotError

CATEGORIES = frozenset({
    "email-platform", "transactional-esp", "marketing", "crm", "helpdesk", "itsm", "hr", "e-signature",
    "survey", "learning", "payments", "ecommerce", "events", "collaboration", "security-gateway", "developer",
    "forwarder", "mailing-list", "other",
})
EVIDENCE = ("spf_includes", "dkim_domains", "return_path_domains", "rdns_suffixes", "asns")
_ID = re.compile(r"^[a-z0-9][a-z0-9.+_-]{0,79}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]{0,62}$")


class CatalogueError(DmarcpilotError):
    """A catalogue file breaks a rule of README.md."""


class ServiceKind(enum.Enum):
    SENDER = "sender"
    FORWARDER = "forwarder"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    name: str
    category: str
    kind: ServiceKind
    spf_includes: tuple[str, ...]
    dkim_domains: tuple[str, ...]
    return_path_domains: tuple[str, ...]
    rdns_suffixes: tuple[str, ...]
    asns: tuple[int, ...]
    alignment: str
    sources: tuple[str, ...]
    #: the includes a customer publishes when several are evidence (regional clouds); default: all of them
    publish_includes: tuple[str, ...] = ()

    @property
    def includes_to_publish(self) -> tuple[str, ...]:
        return self.publish_includes or self.spf_includes

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "category": self.category, "kind": self.kind.value,
            **{name: list(getattr(self, name)) for name in EVIDENCE},
            "alignment": self.alignment, "sources": list(self.sources),
        }


def _strings(entry: dict[str, Any], key: str, where: str, domains: bool = True) -> tuple[str, ...]:
    values = entry.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise CatalogueError(f"{where}: {key} must be a list of strings")
    if any(v != v.strip() or (domains and v != v.lower()) for v in values) or len(set(values)) != len(values):
        raise CatalogueError(f"{where}: {key} must be trimmed{', lower case' if domains else ''}, without duplicates")
    bad = [v for v in values if domains and not _DOMAIN.match(v)]
    if bad:
        raise CatalogueError(f"{where}: {key} has values that are not domain names: {bad}")
    return tuple(values)


def _service(entry: dict[str, Any], where: str) -> Service:
    service_id = entry.get("id")
    if not isinstance(service_id, str) or not _ID.match(service_id):
        raise CatalogueError(f"{where}: invalid id {service_id!r}")
    where = f"{where} ({service_id})"
    for key in ("name", "alignment"):
        if not isinstance(entry.get(key), str) or not entry[key].strip():
            raise CatalogueError(f"{where}: {key} is required")
    if entry.get("category") not in CATEGORIES:
        raise CatalogueError(f"{where}: unknown category {entry.get('category')!r}")
    try:
        kind = ServiceKind(entry.get("kind", "sender"))
    except ValueError:
        raise CatalogueError(f"{where}: unknown kind {entry.get('kind')!r}") from None
    asns = entry.get("asns", [])
    if not isinstance(asns, list) or not all(isinstance(a, int) and 0 < a < 2**32 for a in asns):
        raise CatalogueError(f"{where}: asns must be a list of AS numbers")
    sources = _strings(entry, "sources", where, domains=False)
    if not sources or not all(s.startswith("https://") for s in sources):
        raise CatalogueError(f"{where}: at least one https:// source is required")
    service = Service(
        id=service_id, name=entry["name"].strip(), category=entry["category"], kind=kind,
        spf_includes=_strings(entry, "spf_includes", where), dkim_domains=_strings(entry, "dkim_domains", where),
        return_path_domains=_strings(entry, "return_path_domains", where),
        rdns_suffixes=_strings(entry, "rdns_suffixes", where), asns=tuple(asns),
        alignment=" ".join(entry["alignment"].split()), sources=sources,
        publish_includes=_strings(entry, "publish_includes", where),
    )
    if not set(service.publish_includes) <= set(service.spf_includes):
        raise CatalogueError(f"{where}: publish_includes must be among spf_includes")
    if not any(getattr(service, name) for name in EVIDENCE):
        raise CatalogueError(f"{where}: no evidence at all (SPF include, DKIM, return-path, rDNS or ASN)")
    unknown = set(entry) - {"id", "name", "category", "kind", "alignment", "sources", "publish_includes", *EVIDENCE}
    if unknown:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}")
    return service


class Catalogue:
    """Services by id, and indexes from each kind of evidence to its one service."""

    def __init__(self, services: Iterable[Service]) -> None:
        self.services: dict[str, Service] = {}
        self._index: dict[str, dict[Any, Service]] = {name: {} for name in EVIDENCE}
        for service in services:
            if service.id in self.services:
                raise CatalogueError(f"service id {service.id!r} defined twice")
            self.services[service.id] = service
            for name in EVIDENCE:
                for value in getattr(service, name):
                    other = self._index[name].setdefault(value, service)
                    if other is not service:
                        raise CatalogueError(f"{name} {value!r} claimed by both {other.id!r} and {service.id!r}")

    def __len__(self) -> int:
        return len(self.services)

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 of every entry: equal digests, equal attributions (``analysis.snapshot``)."""
        entries = [{**s.to_dict(), "publish_includes": list(s.publish_includes)} for s in self.services.values()]
        return hashlib.sha256(json.dumps(sorted(entries, key=lambda e: e["id"])).encode()).hexdigest()

    def _by_domain(self, index: str, domain: str | None) -> Service | None:
        """The service owning ``domain`` or its closest parent (a suffix match on labels)."""
        if not domain:
            return None
        labels = domain.strip().rstrip(".").lower().split(".")
        table = self._index[index]
        for start in range(len(labels) - 1):
            found = table.get(".".join(labels[start:]))
            if found is not None:
                return found
        return None

    def by_dkim_domain(self, domain: str | None) -> Service | None:
        return self._by_domain("dkim_domains", domain)

    def by_return_path(self, domain: str | None) -> Service | None:
        return self._by_domain("return_path_domains", domain)

    def by_rdns(self, name: str | None) -> Service | None:
        return self._by_domain("rdns_suffixes", name)

    def by_spf_include(self, domain: str | None) -> Service | None:
        return self._by_domain("spf_includes", domain)

    def by_asn(self, asn: int | None) -> Service | None:
        return None if asn is None else self._index["asns"].get(asn)


def load_file(path: Path | Any) -> list[Service]:
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{path.name}: invalid TOML ({exc})") from None
    entries = data.get("service", [])
    if not isinstance(entries, list):
        raise CatalogueError(f"{path.name}: expected [[service]] tables")
    return [_service(entry, f"{path.name}[{n}]") for n, entry in enumerate(entries)]


def load_catalogue(paths: Iterable[Path] | None = None) -> Catalogue:
    """The catalogue shipped with dmarcpilot (or the given files), validated."""
    if paths is None:
        files = sorted((f for f in resources.files(__name__).iterdir() if f.name.endswith(".toml")),
                       key=lambda f: f.name)
        return Catalogue(s for f in files for s in load_file(f))
    return Catalogue(s for p in paths for s in load_file(p))
