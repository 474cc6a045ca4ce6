"""The RFC 7208 conformance suite (openspf.org, release 2014.04): one case per scenario test.

tests/data/spf/rfc7208-tests.yml is the suite as published, with its
LICENSE and CHANGES beside it (DESIGN.md convention 6). Each scenario's
``zonedata`` becomes a StaticDnsClient the way the suite's own drivers read
it:

* ``TXT`` may be a list of character-strings: one record, joined with no
  separator (RFC 7208 §3.3); ``TXT: NONE`` marks a name with no TXT record;
* ``SPF`` (type 99) is not queried since RFC 7208 §3.1 dropped it; as the
  suite's header says, drivers copy SPF data to TXT for names that have no
  TXT record of their own ("auto-magic duplication"), which is what the
  "Selecting records" section relies on;
* ``TIMEOUT`` makes every question about a type the name has no records of
  time out (records listed before it are still answered);
* ``MX: [preference, host]``, an empty host being the null MX (RFC 7505).

A result may be a list of acceptable results. An explanation of
``DEFAULT`` means the implementation's default; ours is no explanation.

Skipped cases: none.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmarcpilot.dnsclient import StaticDnsClient
from dmarcpilot.spf import SpfResult, check_host, spf_identity

SUITE = Path(__file__).parent.parent / "data" / "spf" / "rfc7208-tests.yml"


def _record_text(rdtype: str, value: Any) -> str:
    if rdtype in ("TXT", "SPF"):
        return "".join(value) if isinstance(value, list) else str(value)
    if rdtype == "MX":
        preference, host = value
        host = str(host) or "."
        return f"{preference} {host if host.endswith('.') else host + '.'}"
    return str(value)


def zone_from(zonedata: dict[str, list[Any]]) -> StaticDnsClient:
    records: dict[tuple[str, str], list[str]] = {}
    timeouts: list[str] = []
    for name, entries in zonedata.items():
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        records.setdefault((name, "TXT"), [])  # the name exists even when it lists nothing served here
        for entry in entries:
            if entry == "TIMEOUT":
                timeouts.append(name)
                continue
            ((rdtype, value),) = entry.items()
            if rdtype == "SPF":
                if has_txt:
                    continue
                rdtype = "TXT"
            elif rdtype == "TXT" and value == "NONE":
                continue
            records.setdefault((name, rdtype), []).append(_record_text(rdtype, value))
    return StaticDnsClient(records, timeouts=timeouts)


def _cases() -> list[Any]:
    cases = []
    with SUITE.open("rb") as fh:
        for scenario in yaml.safe_load_all(fh):
            for name, test in scenario["tests"].items():
                cases.append(pytest.param(scenario, test, id=name))
    return cases


CASES = _cases()


def test_the_suite_has_203_cases() -> None:
    assert len(CASES) == 203


@pytest.mark.parametrize(("scenario", "test"), CASES)
def test_rfc7208(scenario: dict[str, Any], test: dict[str, Any]) -> None:
    zone = zone_from(scenario["zonedata"])
    helo = str(test["helo"])
    domain, sender = spf_identity(str(test["mailfrom"]), helo)
    outcome = asyncio.run(check_host(str(test["host"]), domain, sender, client=zone, helo=helo))
    expected = test["result"] if isinstance(test["result"], list) else [test["result"]]
    assert outcome.result in {SpfResult(r) for r in expected}, (outcome.result, outcome.reason, outcome.trace)
    if "explanation" in test:
        wanted = None if test["explanation"] == "DEFAULT" else test["explanation"]
        assert outcome.explanation == wanted
