from __future__ import annotations

import ipaddress
import json
import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from dmarcpilot.cli.main import cli
from dmarcpilot.enrich.ipdata import UNKNOWN, IpDatabase, IpDataError, IpInfo
from tests.enrich.mmdb import ipinfo_lite, maxmind_asn, maxmind_country


def test_ipinfo_lite_layout(tmp_path: Path) -> None:
    db = IpDatabase([ipinfo_lite(tmp_path / "lite.mmdb")])
    assert db.lookup("8.8.8.8") == IpInfo("US", 15169, "Google LLC", "google.com")
    assert db.lookup(ipaddress.ip_address("40.107.22.1")) == IpInfo("NL", 8075, "Microsoft Corporation",
                                                                    "microsoft.com")
    assert db.lookup("2a01:111:f400::25").asn == 8075
    assert db.lookup("192.0.2.1") == UNKNOWN  # documentation range: not in the data


def test_maxmind_country_and_asn_files_combine(tmp_path: Path) -> None:
    db = IpDatabase([maxmind_country(tmp_path / "c.mmdb"), maxmind_asn(tmp_path / "a.mmdb")])
    assert db.lookup("8.8.8.8") == IpInfo("US", 15169, "GOOGLE", None)
    # registered_country when the file has no country; codes upper-cased
    assert db.lookup("198.51.100.7") == IpInfo("DE", 64500, "Example AS", None)


def test_missing_file_warns_and_answers_empty(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        db = IpDatabase.optional([tmp_path / "absent.mmdb"])
    assert not db.available
    assert db.lookup("8.8.8.8") == UNKNOWN
    assert "absent.mmdb not found" in caplog.text and "dmarcpilot ipdata fetch" in caplog.text


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not an mmdb" * 100)
    with pytest.raises(IpDataError, match=r"cannot read IP database .*bad\.mmdb"):
        IpDatabase([bad])


def test_invalid_address_is_unknown_not_an_exception(tmp_path: Path) -> None:
    db = IpDatabase([ipinfo_lite(tmp_path / "lite.mmdb")])
    assert db.lookup("not-an-ip") == UNKNOWN


def test_cli_lookup_uses_the_configured_database(tmp_path: Path) -> None:
    path = ipinfo_lite(tmp_path / "lite.mmdb")
    result = CliRunner().invoke(cli, ["--ip-database", str(path), "ipdata", "lookup", "--format", "json",
                                      "8.8.8.8", "192.0.2.1"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"ip": "8.8.8.8", "country": "US", "asn": 15169, "as_name": "Google LLC", "as_domain": "google.com"},
        {"ip": "192.0.2.1", "country": None, "asn": None, "as_name": None, "as_domain": None},
    ]
