"""Server-rendered SVG line charts for the stakeholder dashboard (Django-free).

SVG drawn on the server needs no JavaScript library and no CDN, and works
offline and in any browser; the same numbers are exported as CSV/JSON beside
it. Every point carries a <title> tooltip with the exact figure and its n, and
data attributes tests can read. Colours come from a fixed colour-blind-safe
palette and never repeat within a chart; the legend wraps instead of cutting
names short.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = [
    "FIXED_COLOURS",
    "PALETTE",
    "Marker",
    "Point",
    "Series",
    "colours_for",
    "line_chart",
]

# Okabe & Ito (2008), then Paul Tol's "muted" set: all distinguishable with the
# common colour-vision deficiencies. Okabe-Ito's yellow (#F0E442) is left out:
# it does not show on white.
PALETTE = (
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
    "#332288", "#882255", "#117733", "#999933", "#44AA99", "#AA4499", "#DDCC77",
)  # fmt: skip
# One colour per label on every chart, so production reads the same everywhere.
FIXED_COLOURS = {
    "production": "#0072B2",
    "challenger": "#D55E00",
    "rollout": "#009E73",
    "holdout": "#CC79A7",
    "shadow": "#E69F00",
}
WIDTH, PLOT_HEIGHT = 900, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 22, 46
LEGEND_ROW, CHAR_WIDTH = 20, 6.6


@dataclass(frozen=True, slots=True)
class Point:
    """One value at a time, the tooltip shown on hover, and optionally a link
    and a (low, high) interval drawn as a band around the line."""

    at: dt.datetime
    value: float
    tooltip: str
    href: str = ""
    band: tuple[float, float] | None = None


@dataclass(slots=True)
class Series:
    name: str
    points: list[Point] = field(default_factory=list)
    dashed: bool = False
    # False for points that belong to different things (e.g. candidate pairs):
    # a line between them would suggest a trend that is not there.
    connect: bool = True


@dataclass(frozen=True, slots=True)
class Marker:
    """A labelled vertical mark (a promotion, new review guidelines)."""

    at: dt.datetime
    label: str
    kind: str
    href: str = ""


def colours_for(names: Sequence[str]) -> list[str]:
    """A distinct colour per name: labels keep their fixed colour, the others
    take the palette's unused colours in order, then evenly spaced hues."""
    used = {FIXED_COLOURS[n] for n in names if n in FIXED_COLOURS}
    spare = [c for c in PALETTE if c not in used]
    chosen = []
    for index, name in enumerate(names):
        if name in FIXED_COLOURS and FIXED_COLOURS[name] not in chosen:
            chosen.append(FIXED_COLOURS[name])
        elif spare:
            chosen.append(spare.pop(0))
        else:
            chosen.append(f"hsl({index * 137 % 360} 70% 35%)")
    return chosen


@dataclass(frozen=True)
class _Scale:
    start: float
    end: float
    top: float
    percent: bool

    def x(self, at: dt.datetime) -> float:
        inner = WIDTH - LEFT - RIGHT
        if self.end == self.start:
            return LEFT + inner / 2
        return LEFT + (at.timestamp() - self.start) / (self.end - self.start) * inner

    def y(self, value: float) -> float:
        share = max(0.0, min(1.0, value / self.top)) if self.top else 0.0
        return TOP + (1.0 - share) * (PLOT_HEIGHT - TOP - BOTTOM)

    def label(self, value: float) -> str:
        return f"{value:.0%}" if self.percent else f"{value:,.6g}"


def _nice_top(highest: float) -> float:
    """A round top for the y axis; at least 4 so counts get whole ticks."""
    if highest <= 4:
        return 4.0
    magnitude = 10 ** math.floor(math.log10(highest))
    for step in (1, 2, 2.5, 5, 10):
        if highest <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _axes(scale: _Scale, y_label: str, x_label: str) -> list[str]:
    parts = []
    for i in range(5):
        value = scale.top * i / 4
        y = scale.y(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e4e7eb"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="11">{scale.label(value)}</text>'
        )
    middle = TOP + (PLOT_HEIGHT - TOP - BOTTOM) / 2
    parts.append(
        f'<text class="y-label" x="14" y="{middle:.0f}" font-size="12" '
        f'transform="rotate(-90 14 {middle:.0f})" text-anchor="middle">'
        f"{escape(y_label)}</text>"
        f'<text class="x-label" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" '
        f'y="{PLOT_HEIGHT - 6}" font-size="12" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    return parts


def _date_ticks(scale: _Scale) -> list[str]:
    """Up to seven dates along the x axis (UTC), evenly spaced."""
    if scale.end == scale.start:
        stamps = [scale.start]
    else:
        stamps = [scale.start + (scale.end - scale.start) * i / 6 for i in range(7)]
    parts = []
    for index, stamp in enumerate(stamps):
        at = dt.datetime.fromtimestamp(stamp, tz=dt.UTC)
        x = scale.x(at)
        # The outermost dates align inwards so they are never cut off.
        anchor = "middle"
        if len(stamps) > 1 and index in (0, len(stamps) - 1):
            anchor = "start" if index == 0 else "end"
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{PLOT_HEIGHT - BOTTOM}" '
            f'y2="{PLOT_HEIGHT - BOTTOM + 4}" stroke="#7b8794"/>'
            f'<text class="x-tick" x="{x:.1f}" y="{PLOT_HEIGHT - BOTTOM + 16}" '
            f'text-anchor="{anchor}" font-size="11">{at:%Y-%m-%d}</text>'
        )
    return parts


def _legend(entries: Sequence[tuple[str, str, bool]]) -> tuple[list[str], int]:
    """Legend items flowed into rows as wide as the chart; never truncated.

    Returns the SVG parts and the number of rows used.
    """
    parts: list[str] = []
    x, row = float(LEFT), 0
    for name, colour, dashed in entries:
        width = 26 + len(name) * CHAR_WIDTH + 18
        if x + width > WIDTH - RIGHT and x > LEFT:
            x, row = float(LEFT), row + 1
        y = PLOT_HEIGHT + 8 + row * LEGEND_ROW
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        parts.append(
            f'<g class="legend-item" data-series="{escape(name)}">'
            f'<line x1="{x:.1f}" x2="{x + 20:.1f}" y1="{y + 6}" y2="{y + 6}" '
            f'stroke="{colour}" stroke-width="3"{dash}/>'
            f'<text class="legend" x="{x + 26:.1f}" y="{y + 10}" font-size="12">'
            f"{escape(name)}</text></g>"
        )
        x += width
    return parts, (row + 1 if entries else 0)


def _markers(scale: _Scale, markers: Sequence[Marker]) -> list[str]:
    parts = []
    for index, mark in enumerate(markers):
        if not scale.start <= mark.at.timestamp() <= scale.end:
            continue
        x = scale.x(mark.at)
        when = f"{mark.at.astimezone(dt.UTC):%Y-%m-%d %H:%M} UTC"
        # Labels alternate between two heights so neighbours do not overlap.
        label_y = TOP - 8 + (index % 2) * 12
        # Labels right of the middle read leftwards so they stay inside.
        right = x > (LEFT + WIDTH - RIGHT) / 2
        text_x, anchor = (x - 3, "end") if right else (x + 3, "start")
        inner = (
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{PLOT_HEIGHT - BOTTOM}" '
            f'stroke="#3e4c59" stroke-width="1.5" stroke-dasharray="4 3"/>'
            # An invisible wider strip: a 1.5px line is too thin to hit.
            f'<rect class="hit" x="{x - 6:.1f}" y="{TOP}" width="12" '
            f'height="{PLOT_HEIGHT - BOTTOM - TOP}" fill="transparent"/>'
            f'<text x="{text_x:.1f}" y="{label_y}" font-size="10.5" '
            f'text-anchor="{anchor}" fill="#3e4c59">{escape(mark.label)}</text>'
            f"<title>{escape(mark.label)}: {when}</title>"
        )
        if mark.href:
            inner = f'<a href="{escape(mark.href)}">{inner}</a>'
        parts.append(
            f'<g class="marker {escape(mark.kind)}" '
            f'data-label="{escape(mark.label)}">{inner}</g>'
        )
    return parts


def _band(scale: _Scale, one: Series, colour: str) -> list[str]:
    """The series' interval band, under every line and marker; it never takes
    the pointer, so the points and markers above stay clickable."""
    points = sorted(one.points, key=lambda p: p.at)
    name = escape(one.name)
    parts = []
    bands = [(p.at, p.band) for p in points if p.band is not None]
    if bands:
        upper = [f"{scale.x(at):.1f},{scale.y(high):.1f}" for at, (_, high) in bands]
        lower = [f"{scale.x(at):.1f},{scale.y(low):.1f}" for at, (low, _) in bands]
        parts.append(
            f'<polygon class="band" data-series="{name}" fill="{colour}" '
            f'fill-opacity="0.15" stroke="none" pointer-events="none" '
            f'points="{" ".join(upper + lower[::-1])}"/>'
        )
    return parts


def _series(scale: _Scale, one: Series, colour: str) -> list[str]:
    points = sorted(one.points, key=lambda p: p.at)
    name = escape(one.name)
    parts = []
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{scale.x(p.at):.1f},{scale.y(p.value):.1f}"
        for i, p in enumerate(points)
    )
    dash = ' stroke-dasharray="6 4"' if one.dashed else ""
    if one.connect:
        parts.append(
            f'<path class="series" data-series="{name}" d="{path}" fill="none" '
            f'stroke="{colour}" stroke-width="2.2"{dash}/>'
        )
    for p in points:
        circle = (
            f'<circle class="point" data-series="{name}" data-value="{p.value:.6f}" '
            f'cx="{scale.x(p.at):.1f}" cy="{scale.y(p.value):.1f}" r="4" '
            f'fill="{colour}" stroke="#fff"><title>{escape(p.tooltip)}</title></circle>'
        )
        if p.band is not None:
            low, high = p.band
            x = scale.x(p.at)
            circle = (
                f'<line class="whisker" x1="{x:.1f}" x2="{x:.1f}" '
                f'y1="{scale.y(low):.1f}" y2="{scale.y(high):.1f}" '
                f'stroke="{colour}" stroke-opacity="0.5"/>{circle}'
            )
        parts.append(f'<a href="{escape(p.href)}">{circle}</a>' if p.href else circle)
    return parts


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    y_label: str,
    x_label: str = "date (UTC)",
    percent: bool = True,
    markers: Sequence[Marker] = (),
    chart_id: str = "",
    span: tuple[dt.datetime, dt.datetime] | None = None,
) -> str:
    """Values over time: one path per series, its points, interval bands and
    vertical markers. `percent` plots shares on 0-100%; otherwise the y axis
    runs from 0 to a round number above the highest value (counts, ms). The x
    axis covers `span` when given (a whole period, gaps included), else the
    points."""
    times = [p.at.timestamp() for s in series for p in s.points]
    if span is not None and times:
        times += [span[0].timestamp(), span[1].timestamp()]
    values = [v for s in series for p in s.points for v in (p.value, *(p.band or ()))]
    top = 1.0 if percent else _nice_top(max(values, default=0.0))
    scale = _Scale(min(times, default=0.0), max(times, default=0.0), top, percent)
    body = _axes(scale, y_label, x_label)
    colours = colours_for([s.name for s in series])
    drawn = [(s, c) for s, c in zip(series, colours, strict=True) if s.points]
    if times:
        body += _date_ticks(scale)
    for one, colour in drawn:
        body += _band(scale, one, colour)
    if times:
        body += _markers(scale, markers)
    for one, colour in drawn:
        body += _series(scale, one, colour)
    legend, rows = _legend(
        [(s.name, c, s.dashed) for s, c in zip(series, colours, strict=True)]
    )
    height = PLOT_HEIGHT + 8 + rows * LEGEND_ROW + 6
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    return (
        f'<svg{ident} class="chart line-chart" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}{''.join(legend)}</svg>"
    )
