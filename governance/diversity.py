"""Output diversity: how many distinct SQL shapes each segment gets.

A segment is a task type. The current window (the last `drift_current_days`
whole days) is compared with the window of the same length before it. Distinct
shapes grow with the number of queries, so both windows are cut to the same
number of interactions (the first ones of each, by time) before counting; a
window above `drift.SAMPLE_LIMIT` queries is read as a uniform sample first. A
segment whose distinct shapes fall below `diversity_collapse_ratio` of the
previous window's has collapsed: the assistant answers different questions with
the same few queries.
"""

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from feedback.models import Interaction
from governance import gates
from governance.drift import SAMPLE_LIMIT
from governance.traffic_features import sample_bound, sql_profile
from registry.models import PromptTemplate

DEDUP_PREFIX = "until:"


def _shapes_by_segment(
    template: PromptTemplate, start: datetime, end: datetime
) -> dict[str, list[str]]:
    window = Interaction.objects.filter(
        template=template, occurred_at__gte=start, occurred_at__lt=end
    ).exclude(generated_sql="")
    bound = sample_bound(window.count(), SAMPLE_LIMIT)
    if bound is not None:
        window = window.filter(event_id__lt=bound)
    rows = window.order_by("occurred_at", "event_id").values_list(
        "task_type", "generated_sql"
    )
    dialect = template.target_database.dialect
    shapes: dict[str, list[str]] = defaultdict(list)
    for task_type, sql in rows:
        shape = sql_profile(sql, dialect=dialect).shape
        if shape:
            shapes[task_type].append(shape)
    return shapes


def output_diversity(template: PromptTemplate, *, now: datetime) -> dict[str, Any]:
    """Distinct SQL shapes per segment, this window against the previous one.

    Read-only. Segments with fewer than `feedback_min_interactions` parsed
    queries in either window are listed as too small, never as collapsed.
    """
    policy = gates.policy_for(template)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    span = timedelta(days=policy.drift_current_days)
    previous = _shapes_by_segment(template, end - 2 * span, end - span)
    current = _shapes_by_segment(template, end - span, end)
    ratio_floor = policy.diversity_collapse_ratio
    segments: dict[str, dict[str, Any]] = {}
    for segment in sorted(set(previous) | set(current)):
        n = min(len(previous.get(segment, [])), len(current.get(segment, [])))
        if n < max(1, policy.feedback_min_interactions):
            segments[segment] = {"interactions": n, "too_small": True}
            continue
        before = len(set(previous[segment][:n]))
        after = len(set(current[segment][:n]))
        ratio = after / before
        segments[segment] = {
            "interactions": n,
            "previous_shapes": before,
            "current_shapes": after,
            "ratio": round(ratio, 4),
            "collapsed": before > 1 and ratio < ratio_floor,
        }
    return {
        "previous": {"start": (end - 2 * span).isoformat()},
        "current": {"start": (end - span).isoformat(), "end": end.isoformat()},
        "threshold": ratio_floor,
        "segments": segments,
        "collapsed": [s for s, row in segments.items() if row.get("collapsed")],
    }


def check_output_diversity(
    template: PromptTemplate, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """Fire when a segment's SQL shapes collapsed; once per current window."""
    report = output_diversity(template, now=now)
    if not report["collapsed"]:
        return None
    return f"{DEDUP_PREFIX}{report['current']['end'][:10]}", report
