"""Small MMDB files built by the tests (mmdb-writer), in each supported layout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def write_mmdb(path: Path, networks: dict[str, dict[str, Any]], database_type: str) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type=database_type,
                        languages=["en"], description={"en": "dmarcpilot test data"})
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def ipinfo_lite(path: Path) -> Path:
    """The IPinfo Lite layout, with values as IPinfo publishes them for these networks."""
    return write_mmdb(path, {
        "8.8.8.0/24": {"asn": "AS15169", "as_name": "Google LLC", "as_domain": "google.com",
                       "country_code": "US", "country": "United States"},
        "40.107.0.0/16": {"asn": "AS8075", "as_name": "Microsoft Corporation", "as_domain": "microsoft.com",
                          "country_code": "NL", "country": "The Netherlands"},
        "2a01:111:f400::/48": {"asn": "AS8075", "as_name": "Microsoft Corporation",
                               "as_domain": "microsoft.com", "country_code": "US"},
    }, "ipinfo lite.mmdb")


def maxmind_country(path: Path) -> Path:
    return write_mmdb(path, {
        "8.8.8.0/24": {"country": {"iso_code": "US", "names": {"en": "United States"}}},
        "198.51.100.0/24": {"registered_country": {"iso_code": "de"}},
    }, "GeoLite2-Country")


def maxmind_asn(path: Path) -> Path:
    return write_mmdb(path, {
        "8.8.8.0/24": {"autonomous_system_number": 15169, "autonomous_system_organization": "GOOGLE"},
        "198.51.100.0/24": {"autonomous_system_number": 64500, "autonomous_system_organization": "Example AS"},
    }, "GeoLite2-ASN")
