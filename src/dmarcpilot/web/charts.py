"""Server-side SVG charts as geometry: numbers computed here, drawn by the templates (text autoescaped there)."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Country shapes the vendored map holds (@svg-maps/world: ISO 3166-1 alpha-2, lower case, as element ids).
_COUNTRY = re.compile(r"^[A-Z]{2}$")
MAP_STEPS = 5


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True, slots=True)
class TimeChart:
    """Messages per day as bars, the DMARC pass rate as a line on a 0-100 % scale."""

    width: int
    height: int
    bars: tuple[Bar, ...]
    rate_points: str
    max_messages: int
    first_day: str
    last_day: str


@dataclass(frozen=True, slots=True)
class Spark:
    width: int
    height: int
    points: str
    rate_points: str


@dataclass(frozen=True, slots=True)
class MapCountry:
    code: str  # lower-case alpha-2: the id of the country's shape in the vendored map
    step: int  # 1..MAP_STEPS: colour class by messages (log scale)
    title: str


def _y(value: float, top: float, height: float) -> float:
    return round(height - (value / top) * height, 2) if top else height


def spark(series: Sequence[dict[str, Any]], width: int = 120, height: int = 28) -> Spark:
    """Messages (and the pass rate, dashed) per day in a small box."""
    top = max((d["messages"] for d in series), default=0)
    step = width / max(len(series) - 1, 1)
    points = " ".join(f"{round(i * step, 2)},{_y(d['messages'], top, height - 2) + 1}" for i, d in enumerate(series))
    rate = " ".join(f"{round(i * step, 2)},{_y(d['pass_rate'], 100, height - 2) + 1}"
                    for i, d in enumerate(series) if d["pass_rate"] is not None)
    return Spark(width, height, points, rate)


def time_chart(series: Sequence[dict[str, Any]], width: int = 720, height: int = 180) -> TimeChart:
    top = max((d["messages"] for d in series), default=0)
    slot = width / max(len(series), 1)
    bars = []
    rate = []
    for i, d in enumerate(series):
        y = _y(d["messages"], top, height)
        pass_rate = d["pass_rate"]
        label = "no reports" if pass_rate is None else f"{pass_rate:.1f} % pass DMARC"
        bars.append(Bar(round(i * slot, 2), y, round(max(slot - 1, 0.5), 2), round(height - y, 2),
                        f"{d['day']}: {d['messages']} messages, {label}"))
        if pass_rate is not None:
            rate.append(f"{round(i * slot + slot / 2, 2)},{_y(pass_rate, 100, height)}")
    first = series[0]["day"] if series else ""
    last = series[-1]["day"] if series else ""
    return TimeChart(width, height, tuple(bars), " ".join(rate), top, first, last)


def world(countries: Sequence[dict[str, Any]]) -> tuple[MapCountry, ...]:
    """Countries shaded by messages on a log scale (unknown codes stay off the map, listed in the table)."""
    top = max((c["messages"] for c in countries), default=0)
    out = []
    for c in countries:
        code = c["country"]
        if not _COUNTRY.match(code) or c["messages"] <= 0:
            continue
        fraction = math.log1p(c["messages"]) / math.log1p(top) if top else 0
        step = max(1, min(MAP_STEPS, math.ceil(fraction * MAP_STEPS)))
        out.append(MapCountry(code.lower(), step, f"{code}: {c['messages']} messages from {c['sources']} sources"))
    return tuple(out)


def share(value: float | None, whole: float | None, width: int = 100) -> float:
    """Width of a table bar for ``value`` out of ``whole``."""
    if not value or not whole:
        return 0.0
    return round(width * min(value / whole, 1.0), 2)


_MAP = Path(__file__).parent / "static" / "vendor" / "svg-maps-world" / "world.svg"


@functools.cache
def map_codes() -> tuple[str, ...]:
    """Every country shape of the vendored map (drawn grey under the shaded ones)."""
    return tuple(re.findall(r'\bid="([a-z]{2})"', _MAP.read_text(encoding="utf-8")))
