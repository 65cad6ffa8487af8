"""The stakeholder dashboard's offline side: accuracy over time per label.

Runs are grouped by the label that pointed at the pair they evaluated when they
finished (label history), each point with its Wilson 95% interval; promotions
and new review guidelines are marked. Reads only through the apps' models and
selectors; the portal stands above every app.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from evaluation.models import EvaluationRun, GoldenExample, GoldenSetSnapshot
from evaluation.runs.selectors import list_runs
from evaluation.runs.summaries import METRICS
from evaluation.statistics import wilson_interval
from feedback.guidelines import guideline_changes
from governance.models import PromotionRequest
from portal.labels import Timeline, label_rank, label_timeline
from registry.models import PromptTemplate

# What stakeholders call each metric; execution accuracy is the headline.
# In the order the metric switch offers them.
METRIC_NAMES = {
    "execution_accuracy": "execution accuracy (EX)",
    "exact_match": "exact match (EM)",
    "execution_success": "execution success",
    "row_count_ok": "row count correct",
}
DEFAULT_METRIC = "execution_accuracy"
OTHER_PAIRS = "unlabelled pairs (candidates)"
MAX_DAYS = 366
DEFAULT_DAYS = 84


class FilterError(ValueError):
    """A dashboard filter is malformed or names something that does not exist."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Filters:
    template: PromptTemplate | None
    snapshot: GoldenSetSnapshot | None
    metric: str
    eval_segment: str
    task_type: str
    tenant: str
    days: int


def _template(name: str) -> PromptTemplate | None:
    if name:
        found = PromptTemplate.objects.filter(name=name).first()
        if found is None:
            raise FilterError("template", f"no template named {name!r}")
        return found
    # The template most recently evaluated, else the first by name.
    latest = (
        EvaluationRun.objects.filter(status=EvaluationRun.Status.SUCCEEDED)
        .order_by("-finished_at", "-pk")
        .values_list("prompt_version__template_id", flat=True)
        .first()
    )
    if latest is not None:
        return PromptTemplate.objects.get(pk=latest)
    return PromptTemplate.objects.order_by("name").first()


def read_filters(params: Any) -> Filters:
    """Validate the query string; FilterError names the bad parameter."""
    metric = params.get("metric") or DEFAULT_METRIC
    if metric not in METRICS:
        raise FilterError("metric", f"must be one of {', '.join(METRICS)}")
    snapshot = None
    if raw := params.get("snapshot"):
        found = raw.isdigit() and GoldenSetSnapshot.objects.filter(pk=int(raw)).first()
        if not found:
            raise FilterError("snapshot", f"no snapshot {raw!r}")
        snapshot = found
    raw_days = params.get("days") or str(DEFAULT_DAYS)
    if not raw_days.isdigit() or not 1 <= int(raw_days) <= MAX_DAYS:
        raise FilterError("days", f"a whole number of days from 1 to {MAX_DAYS}")
    for name in ("segment", "tenant", "eval_segment"):
        if len(params.get(name) or "") > 100:
            raise FilterError(name, "at most 100 characters")
    return Filters(
        template=_template(params.get("template") or ""),
        snapshot=snapshot,
        metric=metric,
        eval_segment=params.get("eval_segment") or "overall",
        task_type=params.get("segment") or "",
        tenant=params.get("tenant") or "",
        days=int(raw_days),
    )


def finished_runs(filters: Filters) -> QuerySet[EvaluationRun]:
    """Succeeded runs in the filters' scope, oldest first. Runs on a safety
    suite score no accuracy, so they show only when their snapshot is chosen."""
    runs = list_runs().filter(status=EvaluationRun.Status.SUCCEEDED)
    if filters.template is not None:
        runs = runs.filter(prompt_version__template=filters.template)
    if filters.snapshot is not None:
        runs = runs.filter(snapshot=filters.snapshot)
    else:
        runs = runs.exclude(
            snapshot__items__golden_example__kind=GoldenExample.Kind.SAFETY
        )
    return runs.order_by("finished_at", "pk").distinct()


def block_of(run: EvaluationRun, segment: str) -> dict[str, Any]:
    """A run's summary block for one evaluation segment ("overall" or e.g.
    "difficulty:hard"); empty when the run has none."""
    summary = run.summary or {}
    if segment == "overall":
        return dict(summary.get("overall") or {})
    return dict((summary.get("segments") or {}).get(segment) or {})


@dataclass(frozen=True)
class RunPoint:
    """One run on one label's line: the metric, its n and Wilson interval."""

    run: EvaluationRun
    label: str
    value: float
    n: int
    low: float | None
    high: float | None


def run_point(run: EvaluationRun, label: str, filters: Filters) -> RunPoint | None:
    """The run's value of the chosen metric and segment, with its Wilson 95%
    interval from the count behind it (None when the run lacks it)."""
    block = block_of(run, filters.eval_segment)
    value, n = block.get(filters.metric), int(block.get("n") or 0)
    if value is None:
        return None
    interval = wilson_interval(round(value * n), n) if n else None
    low, high = interval if interval else (None, None)
    return RunPoint(run, label, float(value), n, low, high)


def labels_for_run(timeline: Timeline, run: EvaluationRun) -> list[str]:
    """Labels pointing at the run's pair when it finished; OTHER_PAIRS if none."""
    assert run.finished_at is not None  # noqa: S101 (callers skip unfinished)
    pair = (run.prompt_version_id, run.model_version_id)
    return timeline.labels_of(pair, run.finished_at) or [OTHER_PAIRS]


@dataclass
class Accuracy:
    """The accuracy panel: points per label (production first) and the table."""

    lines: dict[str, list[RunPoint]] = field(default_factory=dict)
    rows: list[RunPoint] = field(default_factory=list)


def accuracy_by_label(runs: list[EvaluationRun], filters: Filters) -> Accuracy:
    """Each run's point on the line of every label that served its pair when it
    finished (a holdout frozen at production's pair shares its points)."""
    found = Accuracy()
    if filters.template is None:
        return found
    timeline = label_timeline(template=filters.template)
    for run in runs:
        if run.finished_at is None:  # not on a time axis
            continue
        for label in labels_for_run(timeline, run):
            point = run_point(run, label, filters)
            if point is None:
                continue
            found.lines.setdefault(label, []).append(point)
            found.rows.append(point)
    found.lines = dict(sorted(found.lines.items(), key=lambda kv: label_rank(kv[0])))
    return found


@dataclass(frozen=True)
class PromotionMark:
    pk: int
    at: dt.datetime
    label_name: str
    kind: str
    text: str


def promotion_marks(
    template: PromptTemplate | None, start: dt.datetime, end: dt.datetime
) -> list[PromotionMark]:
    """Promotions (and rollbacks) that moved a label of `template` in [start, end]."""
    if template is None:
        return []
    requests = PromotionRequest.objects.filter(
        template=template,
        status=PromotionRequest.Status.PROMOTED,
        closed_at__gte=start,
        closed_at__lte=end,
    ).order_by("closed_at", "pk")
    marks = []
    for request in requests:
        assert request.closed_at is not None  # noqa: S101 (filtered above)
        marks.append(
            PromotionMark(
                pk=request.pk,
                at=request.closed_at,
                label_name=request.label_name,
                kind=request.kind,
                text=f"{request.kind} #{request.pk} → {request.label_name} "
                f"{request.closed_at:%Y-%m-%d}",
            )
        )
    return marks


def guideline_marks(
    start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, str]]:
    """New review guidelines taking effect in [start, end]."""
    return guideline_changes(start, end)


def compare_pair(
    runs: list[EvaluationRun],
) -> tuple[EvaluationRun, EvaluationRun] | None:
    """The latest two runs (oldest first in `runs`) that share a snapshot and
    a scoring mode, older first: what "compare two runs" opens."""
    seen: dict[tuple[int, str], EvaluationRun] = {}
    for run in reversed(runs):
        key = (run.snapshot_id, run.mode)
        if key in seen:
            return run, seen[key]
        seen[key] = run
    return None
