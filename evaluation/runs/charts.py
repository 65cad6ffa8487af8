"""A small server-rendered SVG line chart (Django-free): feedback's quality
report draws reviewer agreement with it. The stakeholder dashboard has its own
charts in the portal (bands, linked markers, wrapped legends), which apps below
the portal cannot import.

SVG drawn on the server needs no JavaScript library, works offline and in any
browser, and the same numbers are exported as CSV/JSON beside it. Every point
and bar carries a <title> tooltip and data attributes tests can read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["PALETTE", "Point", "Series", "line_chart"]

PALETTE = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 16, 44


@dataclass(frozen=True, slots=True)
class Point:
    """One value in [0, 1] at a time, with the tooltip shown on hover."""

    at: dt.datetime
    value: float
    tooltip: str


@dataclass(slots=True)
class Series:
    name: str
    points: list[Point] = field(default_factory=list)


def _y(value: float) -> float:
    return TOP + (1.0 - max(0.0, min(1.0, value))) * (HEIGHT - TOP - BOTTOM)


def _axes(y_label: str) -> list[str]:
    parts = []
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = _y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" '
            f'y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11">{tick:.0%}</text>'
        )
    parts.append(
        f'<text x="12" y="{TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f}" font-size="11" '
        f'transform="rotate(-90 12 {TOP + (HEIGHT - TOP - BOTTOM) / 2:.0f})" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    return parts


def _svg(kind: str, title: str, body: list[str], legend: list[str]) -> str:
    height = HEIGHT + 18 * ((len(legend) + 2) // 3)
    return (
        f'<svg class="chart {kind}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}{''.join(legend)}</svg>"
    )


def _legend(names: Sequence[str]) -> list[str]:
    items = []
    for i, name in enumerate(names):
        x = LEFT + (i % 3) * 240
        y = HEIGHT + 4 + (i // 3) * 18
        items.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" '
            f'fill="{PALETTE[i % len(PALETTE)]}"/>'
            f'<text class="legend" x="{x + 14}" y="{y + 9}" font-size="11">'
            f"{escape(name[:40])}</text>"
        )
    return items


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    markers: Sequence[tuple[dt.datetime, str]] = (),
) -> str:
    """Values over time, one polyline with circle points per series.

    `markers` are moments to mark with a labelled dashed vertical line (e.g. a
    new version of the review guidelines); those outside the plotted span are
    left out.
    """
    times = [p.at.timestamp() for s in series for p in s.points]
    if not times:
        return _svg("line-chart", title, _axes(y_label), [])
    start, end = min(times), max(times)
    span = end - start or 1.0
    inner = WIDTH - LEFT - RIGHT

    def x(at: dt.datetime) -> float:
        if end == start:
            return LEFT + inner / 2
        return LEFT + (at.timestamp() - start) / span * inner

    body = _axes(y_label)
    for label, stamp in ((start, "left"), (end, "right")):
        when = dt.datetime.fromtimestamp(label, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
        anchor = "start" if stamp == "left" else "end"
        edge = LEFT if stamp == "left" else WIDTH - RIGHT
        body.append(
            f'<text x="{edge}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" '
            f'font-size="11">{when} UTC</text>'
        )
    for at, mark in markers:
        if not start <= at.timestamp() <= end:
            continue
        body.append(
            f'<g class="marker" data-label="{escape(mark)}">'
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" '
            f'y2="{HEIGHT - BOTTOM}" stroke="#555" stroke-dasharray="4 3"/>'
            f'<text x="{x(at) + 3:.1f}" y="{TOP + 10}" font-size="10">'
            f"{escape(mark)}</text><title>{escape(mark)}: "
            f"{at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC</title></g>"
        )
    for i, one in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        points = sorted(one.points, key=lambda p: p.at)
        coords = " ".join(f"{x(p.at):.1f},{_y(p.value):.1f}" for p in points)
        body.append(
            f'<polyline class="series" data-series="{escape(one.name)}" fill="none" '
            f'stroke="{color}" stroke-width="2" points="{coords}"/>'
        )
        body.extend(
            f'<circle class="point" data-series="{escape(one.name)}" '
            f'data-value="{p.value:.6f}" cx="{x(p.at):.1f}" cy="{_y(p.value):.1f}" '
            f'r="4" fill="{color}"><title>{escape(p.tooltip)}</title></circle>'
            for p in points
        )
    return _svg("line-chart", title, body, _legend([s.name for s in series]))
