"""How governance shows rates: percentages with one decimal, Wilson 95% bounds,
deltas in points (Django-free; the page's template filters call these).

Reviewers compared raw floats (`0.6666666666666666`) before; one formatter for
gates, the decision log and the page keeps every figure in the same shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.statistics import wilson_interval

__all__ = ["accuracy", "interval", "percent", "points", "rate_with_interval"]


def accuracy(value: float | None, n: int | None) -> dict[str, Any]:
    """A rate with its sample size and Wilson 95% interval (None when unknown)."""
    if value is None or not n:
        return {"value": value, "n": n or 0, "interval": None}
    bounds = wilson_interval(round(value * n), n)
    return {
        "value": value,
        "n": n,
        "interval": [round(b, 6) for b in bounds] if bounds else None,
    }


def percent(value: float | None) -> str:
    """0.6666… → "66.7%"; None → "-"."""
    return "-" if value is None else f"{value * 100:.1f}%"


def points(delta: float | None) -> str:
    """A difference of two rates in points: 0.05 → "+5.0 pts"; None → "-"."""
    if delta is None:
        return "-"
    shown = round(delta * 100, 1)
    return f"{shown + 0.0:+.1f} pts"


def interval(bounds: Sequence[float] | None) -> str:
    """Wilson bounds as "95% CI [20.8%, 93.9%]"; "" when there are none."""
    if not bounds:
        return ""
    low, high = bounds
    return f"95% CI [{low * 100:.1f}%, {high * 100:.1f}%]"


def rate_with_interval(block: Mapping[str, Any] | None) -> str:
    """An `accuracy()` block as "66.7% (95% CI [20.8%, 93.9%], n=3)"."""
    if not block or block.get("value") is None:
        return "-"
    shown = interval(block.get("interval"))
    extra = f"{shown}, n={block['n']}" if shown else f"n={block.get('n', 0)}"
    return f"{percent(block['value'])} ({extra})"
