"""Fixtures of the analysis tests."""

from __future__ import annotations

from typing import Any

import pytest

from dmarcpilot.analysis import senders as senders_module


@pytest.fixture
def computed(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts every analysis computed from the rollups (as opposed to read back or brought up to date)."""
    calls: list[int] = []
    real = senders_module._analyse

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(senders_module, "_analyse", counting)
    return calls
