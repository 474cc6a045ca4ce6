"""Small pieces every analysis shares: the reporting window and rates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def window_start(days: int, today: date | None = None) -> date:
    """First UTC day of a window of ``days`` days ending today (or ``today``)."""
    return (today or datetime.now(UTC).date()) - timedelta(days=days - 1)


def rate(part: int, whole: int) -> float | None:
    """``part`` as a percentage of ``whole``, two decimals; None when there is no whole."""
    return None if whole == 0 else round(100.0 * part / whole, 2)
