"""Error classes over time: volume, share per period, stability, drift.

Django-free. The feedback selectors count classified corrections per period;
this module says which classes are stable (present in every period with a
steady share) and how far the mix drifted, so the retraining cycle can tell a
fine-tuning export from a prompt refresh.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from evaluation.statistics import share_spread, total_variation

__all__ = ["MAX_STABLE_SPREAD", "summarize_trend"]

# A class is stable when its share varies by at most this coefficient of
# variation across the periods that have corrections.
MAX_STABLE_SPREAD = 0.5


def summarize_trend(
    periods: Sequence[Mapping[str, int]], totals: Sequence[int]
) -> dict[str, Any]:
    """Per class: volume, share per period, periods present, spread, stable.

    `periods` holds class counts per period (oldest first) and `totals` the
    classified corrections of each period (a correction can count for several
    classes). `drift` is the total variation distance between the class mix of
    the first and the last period that have corrections.
    """
    if len(periods) != len(totals):
        raise ValueError("one total per period")
    active = [i for i, total in enumerate(totals) if total > 0]
    names = sorted({name for counts in periods for name in counts})
    classes: dict[str, Any] = {}
    for name in names:
        shares = [periods[i].get(name, 0) / totals[i] for i in active]
        present = sum(periods[i].get(name, 0) > 0 for i in active)
        spread = share_spread(shares)
        classes[name] = {
            "volume": sum(counts.get(name, 0) for counts in periods),
            "shares": [round(share, 4) for share in shares],
            "present_in": present,
            "spread": None if spread is None else round(spread, 4),
            "stable": len(active) >= 2
            and present == len(active)
            and spread is not None
            and spread <= MAX_STABLE_SPREAD,
        }
    drift = (
        total_variation(Counter(periods[active[0]]), Counter(periods[active[-1]]))
        if len(active) >= 2
        else None
    )
    return {
        "corrections": sum(totals),
        "periods_with_corrections": len(active),
        "classes": classes,
        "drift": None if drift is None else round(drift, 4),
    }
