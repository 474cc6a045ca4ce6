"""The shipped catalogue obeys its rules; matching finds services by their evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmarcpilot.enrich.catalogue import CatalogueError, ServiceKind, load_catalogue

MINIMAL = """
[[service]]
id = "{id}"
name = "{name}"
category = "transactional-esp"
spf_includes = ["{spf}"]
dkim_domains = ["{dkim}"]
rdns_suffixes = ["{rdns}"]
asns = [{asn}]
alignment = "Set up a custom DKIM key and a custom return-path."
sources = ["https://docs.example/{id}"]
"""


def _file(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_shipped_catalogue_is_valid() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) >= 250  # issue 3: at least 250 services send mail on an organisation's behalf
    for service in catalogue.services.values():
        assert service.sources and all(s.startswith("https://") for s in service.sources)
        assert service.kind in ServiceKind


def test_matching_by_each_kind_of_evidence(tmp_path: Path) -> None:
    path = _file(tmp_path, "a.toml", MINIMAL.format(id="esp-one", name="ESP One", spf="spf.esp-one.example",
                                                    dkim="esp-one.example", rdns="out.esp-one.example", asn=64501))
    catalogue = load_catalogue([path])
    assert catalogue.by_dkim_domain("esp-one.example").id == "esp-one"  # type: ignore[union-attr]
    assert catalogue.by_dkim_domain("eu.mail.esp-one.example").id == "esp-one"  # type: ignore[union-attr]
    assert catalogue.by_dkim_domain("notesp-one.example") is None  # labels, not characters
    assert catalogue.by_rdns("smtp-7.out.esp-one.example.").id == "esp-one"  # type: ignore[union-attr]
    assert catalogue.by_spf_include("SPF.ESP-ONE.EXAMPLE").id == "esp-one"  # type: ignore[union-attr]
    assert catalogue.by_asn(64501).id == "esp-one"  # type: ignore[union-attr]
    assert catalogue.by_asn(64502) is None and catalogue.by_dkim_domain(None) is None


def test_evidence_claimed_twice_is_refused(tmp_path: Path) -> None:
    one = _file(tmp_path, "a.toml", MINIMAL.format(id="a", name="A", spf="spf.a.example", dkim="shared.example",
                                                   rdns="a.example", asn=64501))
    two = _file(tmp_path, "b.toml", MINIMAL.format(id="b", name="B", spf="spf.b.example", dkim="shared.example",
                                                   rdns="b.example", asn=64502))
    with pytest.raises(CatalogueError, match=r"'shared\.example' claimed by both 'a' and 'b'"):
        load_catalogue([one, two])


@pytest.mark.parametrize(("change", "message"), [
    (('category = "transactional-esp"', 'category = "spam"'), "unknown category"),
    (('sources = ["https://docs.example/x"]', "sources = []"), "https:// source"),
    (('sources = ["https://docs.example/x"]', 'sources = ["http://docs.example/x"]'), "https:// source"),
    (('dkim_domains = ["x.example"]', 'dkim_domains = ["X.example"]'), "lower case"),
    (('dkim_domains = ["x.example"]', 'dkim_domains = ["not a domain"]'), "not domain names"),
    (('id = "x"', 'id = "Bad Id"'), "invalid id"),
    (('asns = [64501]', 'asns = ["AS1"]'), "AS numbers"),
    (('name = "X"', 'name = "X"\nwebsite = "https://x.example"'), "unknown keys"),
])
def test_rule_violations(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    body = MINIMAL.format(id="x", name="X", spf="spf.x.example", dkim="x.example", rdns="out.x.example", asn=64501)
    assert change[0] in body
    with pytest.raises(CatalogueError, match=message):
        load_catalogue([_file(tmp_path, "bad.toml", body.replace(*change))])


def test_service_without_evidence_is_refused(tmp_path: Path) -> None:
    body = """
[[service]]
id = "empty"
name = "Empty"
category = "other"
alignment = "Nothing."
sources = ["https://docs.example/empty"]
"""
    with pytest.raises(CatalogueError, match="no evidence"):
        load_catalogue([_file(tmp_path, "e.toml", body)])
