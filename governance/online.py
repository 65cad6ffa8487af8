"""Online comparison of two served pairs, from interactions and their feedback.

Used by shadow mode: while the challenger label serves a share of sessions,
each pair's negative-feedback rate and outcome metrics are compared with
production's over the same period, and the promotion request carries them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Avg, Count, QuerySet

from feedback.models import Feedback, Interaction
from feedback.selectors import wrong_answer_feedback
from registry.models import PromptTemplate

Pair = tuple[int, int]


def pair_stats(
    *, template: PromptTemplate, pair: Pair, since: datetime
) -> dict[str, Any]:
    """Interactions served by `pair` (prompt, model ids) since `since`, and their
    feedback: negative rate (an interaction with a wrong-answer signal), thumbs,
    outcome shares and the mean of each outcome metric."""
    interactions = Interaction.objects.filter(
        template=template,
        prompt_version_id=pair[0],
        model_version_id=pair[1],
        occurred_at__gte=since,
    )
    return interaction_stats(interactions, pair=pair)


def interaction_stats(
    interactions: QuerySet[Interaction], *, pair: Pair
) -> dict[str, Any]:
    """`pair_stats` of any set of interactions (callers narrow it further, e.g.
    the holdout comparison to the sessions a label served)."""
    total = interactions.count()
    feedback = Feedback.objects.filter(interaction__in=interactions)
    negative = (
        feedback.filter(pk__in=wrong_answer_feedback().values("pk"))
        .values("interaction_id")
        .distinct()
        .count()
    )
    by_type = dict(
        feedback.values_list("type").annotate(n=Count("pk")).order_by("type")
    )
    outcomes = dict(
        interactions.values_list("outcome").annotate(n=Count("pk")).order_by("outcome")
    )
    metrics = {
        name: {"mean": round(mean, 6), "n": n}
        for name, mean, n in feedback.filter(type=Feedback.Type.OUTCOME_METRIC)
        .values_list("metric_name")
        .annotate(mean=Avg("value"), n=Count("pk"))
        .order_by("metric_name")
    }
    return {
        "pair": list(pair),
        "interactions": total,
        "negative_rate": round(negative / total, 6) if total else None,
        "thumbs_up": by_type.get(Feedback.Type.THUMBS_UP, 0),
        "thumbs_down": by_type.get(Feedback.Type.THUMBS_DOWN, 0),
        "success_rate": (
            round(outcomes.get(Interaction.Outcome.SUCCESS, 0) / total, 6)
            if total
            else None
        ),
        "outcomes": outcomes,
        "metrics": metrics,
    }


def compare_online(
    *, template: PromptTemplate, champion: Pair, challenger: Pair, since: datetime
) -> dict[str, Any]:
    """Both pairs' online statistics since `since` and the challenger's deltas."""
    left = pair_stats(template=template, pair=champion, since=since)
    right = pair_stats(template=template, pair=challenger, since=since)

    def delta(a: float | None, b: float | None) -> float | None:
        return round(b - a, 6) if a is not None and b is not None else None

    names = sorted(set(left["metrics"]) | set(right["metrics"]))
    return {
        "since": since.astimezone(UTC).isoformat(),
        "champion": left,
        "challenger": right,
        "delta": {
            "negative_rate": delta(left["negative_rate"], right["negative_rate"]),
            "success_rate": delta(left["success_rate"], right["success_rate"]),
            **{
                f"metric:{name}": delta(
                    left["metrics"].get(name, {}).get("mean"),
                    right["metrics"].get(name, {}).get("mean"),
                )
                for name in names
            },
        },
    }


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _mean(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def describe(online: dict[str, Any]) -> str:
    """One paragraph for people: the numbers a reviewer weighs."""
    left, right = online["champion"], online["challenger"]
    parts = [
        f"Shadow traffic since {online['since'][:16]}: challenger "
        f"{right['interactions']} interactions, negative-feedback rate "
        f"{_rate(right['negative_rate'])}, success {_rate(right['success_rate'])}; "
        f"production {left['interactions']} interactions, "
        f"{_rate(left['negative_rate'])}, success {_rate(left['success_rate'])}."
    ]
    for name in sorted(set(left["metrics"]) | set(right["metrics"])):
        before = _mean(left["metrics"].get(name, {}).get("mean"))
        after = _mean(right["metrics"].get(name, {}).get("mean"))
        parts.append(f"{name}: challenger {after} vs production {before}.")
    worse = online["delta"]["negative_rate"]
    if worse is not None and worse > 0:
        parts.append("The challenger's negative rate is higher: look before approving.")
    return " ".join(parts)
