"""Template filters for rates on governance pages: `pct`, `ci`, `pts`.

Thin wrappers over `governance.numbers`, so a page shows a figure exactly as the
gate details and the decision log do.
"""

from collections.abc import Sequence
from typing import Any

from django import template

from governance import numbers

register = template.Library()


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@register.filter
def pct(value: Any) -> str:
    """A rate as a percentage with one decimal: 0.6666… → "66.7%"."""
    return numbers.percent(_number(value))


@register.filter
def pts(value: Any) -> str:
    """A difference of rates in points: -0.25 → "-25.0 pts"."""
    return numbers.points(_number(value))


@register.filter
def ci(bounds: Sequence[float] | None) -> str:
    """Wilson bounds as "95% CI [20.8%, 93.9%]" (empty without bounds)."""
    return numbers.interval(bounds)


@register.filter
def wilson(value: Any, n: Any) -> list[float] | None:
    """Wilson 95% bounds of a rate over `n` items, for `ci`: `rate|wilson:n|ci`."""
    count = _number(n)
    return numbers.accuracy(_number(value), int(count) if count else None)["interval"]
