"""Every corpus sample against its hand-written golden file (tests/data/corpus/GOLDEN.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dmarcpilot.reports import Parsed, Rejection, read_reports

CORPUS = Path(__file__).parent.parent / "data" / "corpus"
SAMPLES = sorted(
    p for p in CORPUS.rglob("*")
    if p.is_file() and not p.name.endswith(".expected.json") and p.name not in ("LICENSE", "NOTICE", "GOLDEN.md")
)


def test_every_sample_has_a_golden_file() -> None:
    assert len(SAMPLES) >= 34
    missing = [p.name for p in SAMPLES if not p.with_name(p.name + ".expected.json").exists()]
    assert missing == []


def _compare(actual: Any, expected: Any, where: str) -> list[str]:
    """Field-by-field differences, each named by its path."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        diffs = []
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                diffs.append(f"{where}.{key}: missing (expected {expected[key]!r})")
            elif key not in expected:
                diffs.append(f"{where}.{key}: unexpected {actual[key]!r}")
            else:
                diffs += _compare(actual[key], expected[key], f"{where}.{key}")
        return diffs
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{where}: {len(actual)} items, expected {len(expected)}"]
        return [d for i, (a, e) in enumerate(zip(actual, expected, strict=True))
                for d in _compare(a, e, f"{where}[{i}]")]
    return [] if actual == expected else [f"{where}: {actual!r} != expected {expected!r}"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_sample_matches_golden(sample: Path) -> None:
    golden = json.loads(sample.with_name(sample.name + ".expected.json").read_text("utf-8"))
    items = list(read_reports(sample.name, lambda: open(sample, "rb")))  # noqa: SIM115 - closed by the reader
    reports = [i.report.to_dict() for i in items if isinstance(i, Parsed)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert _compare(reports, golden["reports"], "reports") == []
    assert len(rejected) == len(golden["rejected"]), [r.reason for r in rejected]
    for got, want in zip(rejected, golden["rejected"], strict=True):
        assert want["reason_contains"] in got.reason
