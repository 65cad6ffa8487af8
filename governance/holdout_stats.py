"""Online figures of the holdout beside production's over a period.

Read by the governance admin page, the API, the weekly drift report and the
stakeholder portal (`compare_holdout`). Sessions are told apart by routing, not
by pair: at first the holdout serves production's own pair, so a holdout
session is one whose id routing sends to the holdout (the share is fixed by
policy), and production's are the other sessions served production's pair.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from django.db.models import QuerySet

from evaluation.statistics import two_proportion_test
from feedback.models import Interaction
from governance.numbers import accuracy
from governance.online import interaction_stats
from registry.models import Label, PromptTemplate
from registry.routing import takes_session

# A gap counts as significant below this two-sided p-value, and only with at
# least this many interactions on each side (a 2% share is small).
ALPHA = 0.01
MIN_INTERACTIONS = 30


def p95(values: list[int]) -> float | None:
    """Nearest-rank 95th percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[math.ceil(0.95 * len(ordered)) - 1])


def _side(interactions: QuerySet[Interaction], label: Label) -> dict[str, Any]:
    pair = (label.prompt_version_id, label.model_version_id)
    stats = interaction_stats(interactions, pair=pair)
    total = stats["interactions"]
    latencies = list(
        interactions.filter(server_latency_ms__isnull=False).values_list(
            "server_latency_ms", flat=True
        )
    )
    return {
        **stats,
        "sessions": interactions.values("session_id").distinct().count(),
        "negative_interval": accuracy(stats["negative_rate"], total)["interval"],
        "success_interval": accuracy(stats["success_rate"], total)["interval"],
        "latency_p95_ms": p95([v for v in latencies if v is not None]),
    }


def _count(rate: float | None, n: int) -> int:
    return round(rate * n) if rate is not None else 0


def _test(holdout: dict[str, Any], production: dict[str, Any], rate: str) -> Any:
    result = two_proportion_test(
        _count(holdout[rate], holdout["interactions"]),
        holdout["interactions"],
        _count(production[rate], production["interactions"]),
        production["interactions"],
    )
    if result is None:
        return None
    return {"z": round(result[0], 4), "p_value": round(result[1], 6)}


def _delta(a: float | None, b: float | None) -> float | None:
    return round(b - a, 6) if a is not None and b is not None else None


def compare_holdout(
    *, template: PromptTemplate, since: datetime, until: datetime | None = None
) -> dict[str, Any] | None:
    """Holdout vs production in [since, until): per side interactions, sessions,
    negative-feedback and execution-success rates with Wilson 95% intervals,
    outcome metrics and latency p95; production-minus-holdout deltas and a
    pooled two-proportion test per rate. None while the template has no holdout
    or no production label. Read-only; anyone who may see labels may call it.
    """
    labels = {
        label.name: label
        for label in Label.objects.filter(
            template=template, name__in=[Label.Name.HOLDOUT, Label.Name.PRODUCTION]
        )
    }
    holdout = labels.get(Label.Name.HOLDOUT)
    production = labels.get(Label.Name.PRODUCTION)
    if holdout is None or production is None:
        return None
    window = Interaction.objects.filter(
        template=template, occurred_at__gte=since
    ).exclude(session_id="")
    if until is not None:
        window = window.filter(occurred_at__lt=until)
    share = float(holdout.traffic_share)
    held = {
        session
        for session in window.values_list("session_id", flat=True).distinct()
        if takes_session(
            template_name=template.name,
            label_name=Label.Name.HOLDOUT,
            share=share,
            session_id=session,
        )
    }
    left = _side(
        window.filter(
            prompt_version_id=holdout.prompt_version_id,
            model_version_id=holdout.model_version_id,
            session_id__in=held,
        ),
        holdout,
    )
    right = _side(
        window.filter(
            prompt_version_id=production.prompt_version_id,
            model_version_id=production.model_version_id,
        ).exclude(session_id__in=held),
        production,
    )
    tests = {
        "negative_rate": _test(left, right, "negative_rate"),
        "success_rate": _test(left, right, "success_rate"),
    }
    powered = min(left["interactions"], right["interactions"]) >= MIN_INTERACTIONS
    names = sorted(set(left["metrics"]) | set(right["metrics"]))
    return {
        "template": template.name,
        "since": since.astimezone(UTC).isoformat(),
        "until": until.astimezone(UTC).isoformat() if until else None,
        "share": str(holdout.traffic_share),
        "holdout": left,
        "production": right,
        "delta": {
            "negative_rate": _delta(left["negative_rate"], right["negative_rate"]),
            "success_rate": _delta(left["success_rate"], right["success_rate"]),
            "latency_p95_ms": _delta(left["latency_p95_ms"], right["latency_p95_ms"]),
            "metrics": {
                name: _delta(
                    left["metrics"].get(name, {}).get("mean"),
                    right["metrics"].get(name, {}).get("mean"),
                )
                for name in names
            },
        },
        "tests": tests,
        "alpha": ALPHA,
        "min_interactions": MIN_INTERACTIONS,
        "significant": powered
        and any(t is not None and t["p_value"] < ALPHA for t in tests.values()),
    }
