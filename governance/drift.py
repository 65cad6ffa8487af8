"""The input-drift trigger: has the mix of questions moved from its baseline?

The current window (the last `drift_current_days` whole days) is compared with
the `drift_baseline_days` before it, feature by feature: task type, question
length, the tables and the columns the generated SQL references, and the most
frequent question terms. Each feature's shift is measured with the population
stability index (PSI); one feature above the policy's threshold fires.
"""

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from evaluation.statistics import psi_contributions
from feedback.models import Interaction
from governance import gates
from governance.traffic_features import (
    NO_SQL,
    cap_categories,
    length_bucket,
    question_terms,
    sample_bound,
    sql_profile,
)
from registry.models import PromptTemplate

TEST = "population_stability_index"
# Categories kept per feature (the rest pooled): enough for a schema's busy
# tables and a question vocabulary's head, few enough that the index is read
# on counts, not on a tail of singletons.
CATEGORY_LIMIT = 20
TOP_SHIFTED = 5
FEATURES = ("task_type", "question_length", "tables", "columns", "terms")
# Interactions read per window at most (a uniform sample beyond): every query is
# parsed, and shares on 5,000 are within about a point of the whole window's.
SAMPLE_LIMIT = 5_000


def _window_rows(
    template: PromptTemplate, start: datetime, end: datetime
) -> tuple[int, list[tuple[str, str, str]]]:
    """How many interactions the window holds, and those read (a sample)."""
    window = Interaction.objects.filter(
        template=template, occurred_at__gte=start, occurred_at__lt=end
    )
    count = window.count()
    bound = sample_bound(count, SAMPLE_LIMIT)
    if bound is not None:
        window = window.filter(event_id__lt=bound)
    return count, list(window.values_list("task_type", "question", "generated_sql"))


def feature_mix(
    rows: Iterable[tuple[str, str, str]], *, dialect: str
) -> dict[str, Counter[str]]:
    """Per feature, how many interactions (or mentions) fall in each category."""
    mix: dict[str, Counter[str]] = {name: Counter() for name in FEATURES}
    for task_type, question, sql in rows:
        profile = sql_profile(sql, dialect=dialect)
        mix["task_type"][task_type] += 1
        mix["question_length"][length_bucket(question)] += 1
        mix["tables"].update(profile.tables or {NO_SQL})
        mix["columns"].update(profile.columns or {NO_SQL})
        mix["terms"].update(question_terms(question))
    return mix


def _share(mix: Counter[str], key: str) -> float:
    total = sum(mix.values())
    return round(mix[key] / total, 4) if total else 0.0


def compare_feature(baseline: Counter[str], current: Counter[str]) -> dict[str, Any]:
    """The feature's PSI and the categories that moved it most."""
    base, cur = cap_categories(baseline, current, limit=CATEGORY_LIMIT)
    terms = psi_contributions(base, cur)
    top = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_SHIFTED]
    return {
        "psi": round(sum(terms.values()), 4),
        "top_shifted": [
            {
                "category": key,
                "baseline_share": _share(base, key),
                "current_share": _share(cur, key),
                "contribution": round(value, 4),
            }
            for key, value in top
        ],
    }


def check_input_drift(
    template: PromptTemplate, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """Fire when one feature's PSI exceeds `drift_psi_threshold`.

    Both windows need `feedback_min_interactions` interactions: an index on a
    handful of questions measures sampling noise. Fires once per current window.
    """
    policy = gates.policy_for(template)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    split = end - timedelta(days=policy.drift_current_days)
    start = split - timedelta(days=policy.drift_baseline_days)
    baseline_n, baseline_rows = _window_rows(template, start, split)
    current_n, current_rows = _window_rows(template, split, end)
    minimum = policy.feedback_min_interactions
    if baseline_n < minimum or current_n < minimum:
        return None
    dialect = template.target_database.dialect
    base_mix = feature_mix(baseline_rows, dialect=dialect)
    cur_mix = feature_mix(current_rows, dialect=dialect)
    features = {
        name: compare_feature(base_mix[name], cur_mix[name]) for name in FEATURES
    }
    threshold = policy.drift_psi_threshold
    shifted = [name for name, f in features.items() if f["psi"] > threshold]
    if not shifted:
        return None
    return f"until:{end.date()}", {
        "test": TEST,
        "threshold": threshold,
        "shifted_features": shifted,
        "max_psi": max(f["psi"] for f in features.values()),
        "baseline": _window(start, split, baseline_n, len(baseline_rows)),
        "current": _window(split, end, current_n, len(current_rows)),
        "features": features,
    }


def _window(start: datetime, end: datetime, n: int, read: int) -> dict[str, Any]:
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "interactions": n,
        "sampled": read,
    }
