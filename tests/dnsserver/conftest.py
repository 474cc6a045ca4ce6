"""Fixtures of the DNS server tests: DKIM keys generated once, a store with the test domains."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmarcpilot.policy.dkimkeys import DkimKeyPair, generate_key
from dmarcpilot.store.db import open_store
from tests.dnsserver.helpers import BIG_SELECTOR, SELECTOR, setup_domains


@pytest.fixture(scope="session")
def dkim_keys() -> dict[str, DkimKeyPair]:
    """A 2048-bit key (fits 512 octets) and a 4096-bit one (does not: truncated over plain UDP)."""
    return {SELECTOR: generate_key(bits=2048), BIG_SELECTOR: generate_key(bits=4096)}


def make_store(directory: Path, keys: dict[str, DkimKeyPair]) -> str:
    url = f"sqlite:///{directory / 'dmarcpilot.db'}"
    engine = open_store(url)
    setup_domains(engine, keys)
    engine.dispose()
    return url


@pytest.fixture
def store_url(tmp_path: Path, dkim_keys: dict[str, DkimKeyPair]) -> str:
    return make_store(tmp_path, dkim_keys)
