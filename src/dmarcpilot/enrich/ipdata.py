"""Country, ASN and network owner of an IP address, offline, from an MMDB file.

Layouts read (detected per record, so any of these files can be configured):

- IPinfo Lite: ``country_code``, ``asn`` ("AS15169"), ``as_name``, ``as_domain``;
- MaxMind GeoLite2 / GeoIP2 Country and City: ``country.iso_code``;
- MaxMind GeoLite2 ASN and DB-IP ASN Lite: ``autonomous_system_number``,
  ``autonomous_system_organization``.

Without a file every answer is empty: a clear warning, never a failure.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import maxminddb

from dmarcpilot.errors import DmarcpilotError
from dmarcpilot.reports.model import IPAddress

log = logging.getLogger(__name__)


class IpDataError(DmarcpilotError):
    """The configured MMDB file cannot be read."""


@dataclass(frozen=True, slots=True)
class IpInfo:
    """What the IP data says about one address; every field may be unknown."""

    country: str | None = None  # ISO 3166-1 alpha-2, upper case
    asn: int | None = None
    as_name: str | None = None
    as_domain: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"country": self.country, "asn": self.asn, "as_name": self.as_name, "as_domain": self.as_domain}


UNKNOWN = IpInfo()


def _asn(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        digits = value.upper().removeprefix("AS")
        return int(digits) if digits.isdigit() else None
    return None


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def info_from_record(record: Any) -> IpInfo:
    """Map one MMDB record of any supported layout to an IpInfo."""
    if not isinstance(record, dict):
        return UNKNOWN
    country = record.get("country_code")
    if country is None and isinstance(record.get("country"), dict):
        country = record["country"].get("iso_code")
    if country is None and isinstance(record.get("registered_country"), dict):
        country = record["registered_country"].get("iso_code")
    country_text = _text(country)
    return IpInfo(
        country=country_text.upper() if country_text else None,
        asn=_asn(record.get("asn", record.get("autonomous_system_number"))),
        as_name=_text(record.get("as_name", record.get("autonomous_system_organization"))),
        as_domain=(_text(record.get("as_domain")) or "").lower() or None,
    )


class IpDatabase:
    """One or more MMDB files; later files fill the fields earlier ones lack.

    (A MaxMind Country file and a MaxMind ASN file together give the same as
    one IPinfo Lite file.)
    """

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._readers: list[maxminddb.Reader] = []
        for path in paths:
            try:
                self._readers.append(maxminddb.open_database(str(path)))
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                raise IpDataError(f"cannot read IP database {path}: {exc}") from None
        self._cache: dict[str, IpInfo] = {}

    @classmethod
    def optional(cls, paths: list[Path]) -> IpDatabase:
        """The databases that exist; a warning for the rest (empty columns, no failure)."""
        present = [p for p in paths if p.is_file()]
        for missing in sorted(set(paths) - set(present)):
            log.warning("IP database %s not found: country and ASN stay empty "
                        "(run `dmarcpilot ipdata fetch`)", missing)
        return cls(present)

    @property
    def available(self) -> bool:
        return bool(self._readers)

    def lookup(self, ip: IPAddress | str) -> IpInfo:
        key = str(ip)
        found = self._cache.get(key)
        if found is not None:
            return found
        info = UNKNOWN
        for reader in self._readers:
            try:
                record = reader.get(key)
            except ValueError:  # not an IP address, or IPv6 in an IPv4-only file
                continue
            info = _merge(info, info_from_record(record))
        if len(self._cache) < 1_000_000:
            self._cache[key] = info
        return info

    @functools.cached_property
    def fingerprint(self) -> str:
        """Which files, of which build: equal fingerprints, equal answers (``analysis.snapshot``)."""
        return json.dumps([(d["path"], d["type"], d["build_epoch"], d["nodes"]) for d in self.describe()])

    def describe(self) -> list[dict[str, Any]]:
        out = []
        for path, reader in zip(self.paths, self._readers, strict=True):
            meta = reader.metadata()
            out.append({"path": str(path), "type": meta.database_type, "build_epoch": meta.build_epoch,
                        "ip_version": meta.ip_version, "nodes": meta.node_count})
        return out

    def close(self) -> None:
        for reader in self._readers:
            reader.close()


def _merge(first: IpInfo, second: IpInfo) -> IpInfo:
    return IpInfo(
        country=first.country or second.country,
        asn=first.asn or second.asn,
        as_name=first.as_name or second.as_name,
        as_domain=first.as_domain or second.as_domain,
    )
