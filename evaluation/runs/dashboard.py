"""The accuracy dashboard for stakeholders, and CSV/JSON export of its numbers.

Mounted at /evaluation/ (config.urls). Login through the admin's login page;
reading needs `evaluation.view_evaluationrun` (ML leads, AI safety, product,
auditors).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse_lazy
from django.utils.safestring import mark_safe

from evaluation.models import EvaluationRun, GoldenExample, GoldenSetSnapshot
from evaluation.runs.charts import (
    Point,
    Series,
    bar_chart,
    line_chart,
)
from evaluation.runs.selectors import (
    latest_run_for,
    list_runs,
)
from evaluation.runs.summaries import METRICS
from registry.models import Label, PromptTemplate

app_name = "dashboard"
EXPORT_FIELDS = [
    "run",
    "finished_at",
    "template",
    "prompt_version",
    "prompt_version_number",
    "model_version",
    "labels",
    "snapshot",
    "mode",
    "segment",
    "n",
    *METRICS,
    "latency_p95_ms",
]


# Moments to mark on the accuracy trend, supplied by apps above evaluation
# (feedback marks new review guidelines): (start, end) -> [(moment, label)].
TrendMarkers = Callable[[dt.datetime, dt.datetime], list[tuple[dt.datetime, str]]]
_TREND_MARKERS: list[TrendMarkers] = []


def register_trend_markers(markers: TrendMarkers) -> None:
    """Let an app above evaluation mark moments on the accuracy trend; called
    from an AppConfig's `ready()` (registering twice keeps one)."""
    if markers not in _TREND_MARKERS:
        _TREND_MARKERS.append(markers)


def trend_markers(
    start: dt.datetime, end: dt.datetime
) -> list[tuple[dt.datetime, str]]:
    """Every registered marker in [start, end], in time order."""
    return sorted(m for source in _TREND_MARKERS for m in source(start, end))


class FilterError(ValueError):
    """A dashboard filter names something that does not exist."""


@dataclass(frozen=True)
class Filters:
    template: PromptTemplate | None
    snapshot: GoldenSetSnapshot | None
    metric: str
    segment: str


def read_filters(params: Any) -> Filters:
    """Validate the query string; FilterError names the bad parameter."""
    metric = params.get("metric") or "execution_accuracy"
    if metric not in METRICS:
        raise FilterError(f"metric must be one of {', '.join(METRICS)}")
    template = snapshot = None
    if name := params.get("template"):
        template = PromptTemplate.objects.filter(name=name).first()
        if template is None:
            raise FilterError(f"template: no template named {name!r}")
    if raw := params.get("snapshot"):
        found = raw.isdigit() and GoldenSetSnapshot.objects.filter(pk=int(raw)).first()
        if not found:
            raise FilterError(f"snapshot: no snapshot {raw!r}")
        snapshot = found
    return Filters(template, snapshot, metric, params.get("segment") or "overall")


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
    return runs.order_by("finished_at", "pk")


def _labels(runs: Iterable[EvaluationRun]) -> dict[tuple[int, int, int], list[str]]:
    templates = {run.prompt_version.template_id for run in runs}
    found: dict[tuple[int, int, int], list[str]] = {}
    for label in Label.objects.filter(template_id__in=templates).order_by("name"):
        key = (label.template_id, label.prompt_version_id, label.model_version_id)
        found.setdefault(key, []).append(label.name)
    return found


def _key(run: EvaluationRun) -> tuple[int, int, int]:
    return (run.prompt_version.template_id, run.prompt_version_id, run.model_version_id)


def _series_name(run: EvaluationRun, labels: list[str]) -> str:
    name = (
        f"{run.prompt_version.template.name} · prompt v{run.prompt_version.number} "
        f"+ {run.model_version.name}"
    )
    return f"{name} [{', '.join(labels)}]" if labels else name


def _value(run: EvaluationRun, segment: str, metric: str) -> float | None:
    block = (
        run.summary.get("overall")
        if segment == "overall"
        else run.summary.get("segments", {}).get(segment)
    )
    return None if not block else block.get(metric)


def export_records(runs: list[EvaluationRun]) -> list[dict[str, Any]]:
    """One record per (run, segment), "overall" first: the dashboard's numbers."""
    labels = _labels(runs)
    records = []
    for run in runs:
        blocks = [("overall", run.summary.get("overall", {}))]
        blocks += sorted(run.summary.get("segments", {}).items())
        for segment, values in blocks:
            records.append(
                {
                    "run": run.pk,
                    "finished_at": run.finished_at.isoformat()
                    if run.finished_at
                    else "",
                    "template": run.prompt_version.template.name,
                    "prompt_version": run.prompt_version_id,
                    "prompt_version_number": run.prompt_version.number,
                    "model_version": run.model_version.name,
                    "labels": " ".join(labels.get(_key(run), [])),
                    "snapshot": run.snapshot_id,
                    "mode": run.mode,
                    "segment": segment,
                    "n": values.get("n", 0),
                    **{metric: values.get(metric) for metric in METRICS},
                    "latency_p95_ms": values.get("latency_p95_ms", ""),
                }
            )
    return records


def _trend(runs: list[EvaluationRun], filters: Filters) -> tuple[str, list[Any]]:
    labels = _labels(runs)
    series: dict[tuple[int, int, int], Series] = {}
    table = []
    for run in runs:
        value = _value(run, filters.segment, filters.metric)
        if value is None or run.finished_at is None:
            continue
        name = _series_name(run, labels.get(_key(run), []))
        one = series.setdefault(_key(run), Series(name))
        tip = f"{name}: {value:.1%} (run {run.pk}, snapshot {run.snapshot_id})"
        one.points.append(Point(run.finished_at, value, tip))
        table.append({"run": run, "series": name, "value": value})
    moments = [p.at for one in series.values() for p in one.points]
    chart = line_chart(
        list(series.values()),
        title=f"{filters.metric.replace('_', ' ')} over time ({filters.segment})",
        y_label=filters.metric.replace("_", " "),
        markers=trend_markers(min(moments), max(moments)) if moments else (),
    )
    return chart, table


def _by_label(runs: list[EvaluationRun], filters: Filters) -> tuple[str, Any]:
    template = filters.template or (runs[-1].prompt_version.template if runs else None)
    if template is None:
        return "", None
    snapshot = filters.snapshot or next(
        (r.snapshot for r in reversed(runs) if r.prompt_version.template == template),
        None,
    )
    if snapshot is None:
        return "", None
    latest = []
    for label in Label.objects.filter(template=template).select_related(
        "prompt_version", "model_version"
    ):
        run = latest_run_for(
            prompt_version=label.prompt_version,
            model_version=label.model_version,
            snapshot=snapshot,
        )
        if run is not None:
            latest.append((label.name, run))
    segments = sorted({s for _, run in latest for s in run.summary.get("segments", {})})
    groups = ["overall", *segments]
    chart = bar_chart(
        groups,
        [
            (f"{name} (run {run.pk})", [_value(run, g, filters.metric) for g in groups])
            for name, run in latest
        ],
        title=f"{filters.metric.replace('_', ' ')} by segment: {template.name}, "
        f"snapshot {snapshot.pk}",
        y_label=filters.metric.replace("_", " "),
    )
    return chart, {"template": template, "snapshot": snapshot, "groups": groups}


LOGIN = reverse_lazy("admin:login")


@login_required(login_url=LOGIN)
@permission_required("evaluation.view_evaluationrun", raise_exception=True)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Accuracy over time per label and version, and per segment."""
    try:
        filters = read_filters(request.GET)
    except FilterError as exc:
        return HttpResponseBadRequest(str(exc))
    runs = list(finished_runs(filters))
    trend, table = _trend(runs, filters)
    bars, bar_scope = _by_label(runs, filters)
    segments = sorted({s for run in runs for s in run.summary.get("segments", {})})
    context = {
        "filters": filters,
        "metrics": METRICS,
        "segments": ["overall", *segments],
        "templates": PromptTemplate.objects.order_by("name"),
        "snapshots": GoldenSetSnapshot.objects.order_by("-created_at")[:50],
        "trend_chart": mark_safe(trend),  # noqa: S308 (every text is escaped)
        "bar_chart": mark_safe(bars),  # noqa: S308 (every text is escaped)
        "bar_scope": bar_scope,
        "table": table,
        "query": request.GET.urlencode(),
    }
    return render(request, "evaluation/dashboard.html", context)


@login_required(login_url=LOGIN)
@permission_required("evaluation.view_evaluationrun", raise_exception=True)
def export_view(request: HttpRequest, fmt: str) -> HttpResponse:
    """The dashboard's numbers per run and segment, as CSV or JSON."""
    try:
        filters = read_filters(request.GET)
    except FilterError as exc:
        return HttpResponseBadRequest(str(exc))
    records = export_records(list(finished_runs(filters)))
    if fmt == "json":
        return JsonResponse({"results": records})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    writer.writerows(records)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="evaluation-runs.csv"'
    return response


urlpatterns = [
    path("dashboard/", dashboard_view, name="dashboard"),
    path("dashboard/export.csv", export_view, {"fmt": "csv"}, name="export-csv"),
    path("dashboard/export.json", export_view, {"fmt": "json"}, name="export-json"),
]
