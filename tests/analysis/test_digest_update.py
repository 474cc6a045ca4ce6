"""A digest updated in place equals the digest of the updated analysis, or says it cannot tell."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest

from dmarcpilot.analysis import digest as digest_module
from dmarcpilot.analysis.analysed import AnalysedSource
from dmarcpilot.analysis.digest import Digest, digest_of, updated
from dmarcpilot.analysis.identify import Attribution, Confidence, SenderClass, SourceEvidence
from dmarcpilot.enrich.catalogue import Catalogue, load_catalogue
from dmarcpilot.enrich.ipdata import IpInfo
from tests.analysis.test_identify import CATALOGUE

GROUPS = ("esp-one", "esp-two", "cloud-cheap", "unknown: Bulletproof Hosting / bad.example",
          "unknown: Cheap Cloud / no reverse DNS")
COUNTRIES = (None, "DE", "FR", "US")


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalogue:
    # short lists, so that updates push sources in and out of them
    monkeypatch.setattr(digest_module, "TOP_SOURCES", 7)
    monkeypatch.setattr(digest_module, "TOP_FORWARDERS", 4)
    monkeypatch.setattr(digest_module, "KEPT_FORWARDERS", 6)
    (tmp_path / "cat.toml").write_text(CATALOGUE)
    return load_catalogue([tmp_path / "cat.toml"])


def _source(ip: str, messages: int, passed: int, group: str, cls: SenderClass, country: str | None,
            status: str, catalogue: Catalogue) -> AnalysedSource:
    service = catalogue.services.get(group)
    ev = SourceEvidence(ip, messages, passed, passed // 2, passed)
    attribution = Attribution(service, Confidence.HIGH if service else None, (), group)
    return AnalysedSource(ev, IpInfo(country), None, False, attribution, cls, status if service else "pending")


def _random_source(rng: random.Random, ip: str, catalogue: Catalogue) -> AnalysedSource:
    messages = rng.randint(1, 40)  # small numbers: many ties, ordered by address
    return _source(ip, messages, rng.randint(0, messages), rng.choice(GROUPS), rng.choice(list(SenderClass)),
                   rng.choice(COUNTRIES), rng.choice(("approved", "pending")), catalogue)


def _more(rng: random.Random, row: AnalysedSource, move: bool, catalogue: Catalogue) -> AnalysedSource:
    """The same source after a new report: more messages; with ``move``, maybe another group or class."""
    ev = row.evidence
    extra = rng.randint(0, 30)
    passed = ev.dmarc_pass + rng.randint(0, extra)
    group = rng.choice(GROUPS) if move and rng.random() < 0.3 else row.attribution.group
    cls = rng.choice(list(SenderClass)) if move and rng.random() < 0.3 else row.sender_class
    return _source(ev.ip, ev.messages + extra, passed, group, cls, row.info.country, row.status, catalogue)


def _ordered(rows: list[AnalysedSource]) -> list[AnalysedSource]:
    return sorted(rows, key=lambda r: (-r.evidence.messages, r.evidence.ip))


def _same(got: Digest, expected: Digest) -> None:
    assert replace(got, kept_forwarders=[]) == replace(expected, kept_forwarders=[])
    assert list(got.classes.items()) == list(expected.classes.items())  # in the same order too
    assert got.forwarders == expected.forwarders
    # the reserve may be shorter after an update, but what it holds is right
    assert got.kept_forwarders == expected.kept_forwarders[:len(got.kept_forwarders)]


def test_updates_equal_a_fresh_digest(catalogue: Catalogue) -> None:
    rng = random.Random(20261205)
    exact = {False: 0, True: 0}
    for trial in range(400):
        move = trial % 2 == 1  # even trials: sources only gain messages, as most new reports do
        rows = _ordered([_random_source(rng, f"10.0.{trial % 250}.{n}", catalogue)
                         for n in range(rng.randint(1, 40))])
        touched = rng.sample(rows, rng.randint(0, min(8, len(rows))))
        new = [_more(rng, r, move, catalogue) for r in touched]
        new += [_random_source(rng, f"10.1.{trial % 250}.{n}", catalogue) for n in range(rng.randint(0, 3))]
        after = {r.evidence.ip: r for r in rows} | {r.evidence.ip: r for r in new}
        got = updated(digest_of(rows), {r.evidence.ip: r for r in touched}, new, catalogue)
        if got is None:
            assert move, f"trial {trial}: nothing moved, yet the digest could not be updated"
            continue
        _same(got, digest_of(_ordered(list(after.values()))))
        exact[move] += 1
    assert exact[False] == 200
    assert exact[True] > 100  # most updates with moves are still exact in place


def test_a_largest_source_moving_to_another_group_needs_the_sources(catalogue: Catalogue) -> None:
    big = _source("10.0.0.1", 30, 30, "esp-two", SenderClass.KNOWN_UNAPPROVED, "DE", "pending", catalogue)
    small = _source("10.0.0.2", 5, 0, "esp-two", SenderClass.KNOWN_UNAPPROVED, "DE", "pending", catalogue)
    moved = _source("10.0.0.1", 31, 31, "esp-one", SenderClass.APPROVED, "DE", "approved", catalogue)
    # ESP Two's row shows its largest source's status: after the move, only the sources can say which that is
    assert updated(digest_of([big, small]), {"10.0.0.1": big}, [moved], catalogue) is None
    # when the group's only source moves, the group is simply gone
    alone = updated(digest_of([big]), {"10.0.0.1": big}, [moved], catalogue)
    assert alone is not None and [r["service_id"] for r in alone.senders] == ["esp-one"]


def test_forwarders_leaving_the_list_use_the_reserve_then_need_the_sources(catalogue: Catalogue) -> None:
    group = "unknown: Bulletproof Hosting / bad.example"
    forwarders = [_source(f"10.0.0.{n}", 50 - n, 40, group, SenderClass.FORWARDER, None, "pending", catalogue)
                  for n in range(1, 11)]
    before = digest_of(forwarders)
    assert before.forwarders_total == 10 and len(before.forwarders) == 4 and len(before.kept_forwarders) == 6

    def no_longer(n: int) -> AnalysedSource:
        return _source(f"10.0.0.{n}", 50 - n, 50 - n, group, SenderClass.UNKNOWN, None, "pending", catalogue)

    # two listed forwarders stop being forwarders: the reserve still holds the next four for sure
    after = updated(before, {f"10.0.0.{n}": forwarders[n - 1] for n in (1, 2)}, [no_longer(1), no_longer(2)],
                    catalogue)
    assert after is not None and after.forwarders_total == 8
    assert [f["ip"] for f in after.forwarders] == ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    # one more: 10.0.0.7 comes next, but only the sources know that
    assert updated(after, {"10.0.0.3": forwarders[2]}, [no_longer(3)], catalogue) is None
