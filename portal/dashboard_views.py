"""The stakeholder dashboard at /evaluation/dashboard/ and its CSV/JSON export.

Login through the admin's login page; reading needs
`evaluation.view_evaluationrun` (ML leads, AI safety, product, auditors), as
the dashboard always has. URL names stay `dashboard:*`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import path, reverse, reverse_lazy

from evaluation.models import EvaluationRun, GoldenSetSnapshot
from evaluation.runs.summaries import METRICS
from evaluation.statistics import wilson_interval
from portal.dashboard import (
    METRIC_NAMES,
    FilterError,
    Filters,
    RunPoint,
    accuracy_by_label,
    block_of,
    compare_pair,
    finished_runs,
    read_filters,
)
from portal.panels import accuracy_panel, production_panels
from portal.production import filter_choices
from registry.models import PromptTemplate

app_name = "dashboard"
LOGIN = reverse_lazy("admin:login")
RUN_FIELDS = [
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
    "ci_metric",
    "ci_low",
    "ci_high",
]
PRODUCTION_FIELDS = ["series", "label", "at", "value", "n", "negative", "threshold"]
CSV_FIELDS = ["section", *RUN_FIELDS, *PRODUCTION_FIELDS]


def _bad(exc: FilterError) -> JsonResponse:
    return JsonResponse({"field": exc.field, "detail": exc.message}, status=400)


def _compare_url(runs: list[EvaluationRun]) -> str:
    pair = compare_pair(runs)
    if pair is None:
        return ""
    return f"{reverse('evaluation:comparison')}?a={pair[0].pk}&b={pair[1].pk}"


def run_records(points: list[RunPoint], filters: Filters) -> list[dict[str, Any]]:
    """One record per (run, label, evaluation segment), "overall" first, with
    the Wilson 95% interval of the chosen metric."""
    records = []
    for point in points:
        run = point.run
        segments = ["overall", *sorted((run.summary or {}).get("segments", {}))]
        for segment in segments:
            values = block_of(run, segment)
            n, value = int(values.get("n") or 0), values.get(filters.metric)
            interval = (
                wilson_interval(round(value * n), n)
                if n and value is not None
                else None
            )
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
                    "labels": point.label,
                    "snapshot": run.snapshot_id,
                    "mode": run.mode,
                    "segment": segment,
                    "n": n,
                    **{metric: values.get(metric) for metric in METRICS},
                    "latency_p95_ms": values.get("latency_p95_ms", ""),
                    "ci_metric": filters.metric,
                    "ci_low": interval[0] if interval else None,
                    "ci_high": interval[1] if interval else None,
                }
            )
    return records


def _with(request: HttpRequest, **changes: str) -> str:
    """The current query string with some parameters replaced."""
    query = request.GET.copy()
    for key, value in changes.items():
        query[key] = value
    return query.urlencode()


def _iso(record: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v.isoformat() if isinstance(v, dt.datetime) else v for k, v in record.items()
    }


@login_required(login_url=LOGIN)
@permission_required("evaluation.view_evaluationrun", raise_exception=True)
def dashboard_view(request: HttpRequest) -> HttpResponse:
    """Accuracy over time per label, production panels, online metrics."""
    try:
        filters = read_filters(request.GET)
    except FilterError as exc:
        return _bad(exc)
    runs = list(finished_runs(filters))
    accuracy = accuracy_by_label(runs, filters)
    tasks, tenants = filter_choices(filters.template) if filters.template else ([], [])
    segments = sorted(
        {s for run in runs for s in (run.summary or {}).get("segments", {})}
    )
    context = {
        "filters": filters,
        "metrics": [
            (m, name, _with(request, metric=m)) for m, name in METRIC_NAMES.items()
        ],
        "metric_name": METRIC_NAMES[filters.metric],
        "eval_segments": ["overall", *segments],
        "templates": PromptTemplate.objects.order_by("name"),
        "snapshots": GoldenSetSnapshot.objects.order_by("-created_at")[:50],
        "day_choices": sorted({14, 28, 56, 84, 182, 365, filters.days}),
        "tasks": tasks,
        "tenants": tenants,
        "accuracy": accuracy_panel(accuracy, filters),
        "rows": accuracy.rows[::-1],
        "production": production_panels(filters),
        "compare_url": _compare_url(runs),
        "query": request.GET.urlencode(),
    }
    return render(request, "portal/dashboard.html", context)


@login_required(login_url=LOGIN)
@permission_required("evaluation.view_evaluationrun", raise_exception=True)
def export_view(request: HttpRequest, fmt: str) -> HttpResponse:
    """The dashboard's numbers: runs per label and segment, and every
    production series, as CSV or JSON."""
    try:
        filters = read_filters(request.GET)
    except FilterError as exc:
        return _bad(exc)
    accuracy = accuracy_by_label(list(finished_runs(filters)), filters)
    runs = run_records(accuracy.rows, filters)
    panels = production_panels(filters)
    series = [_iso(r) for r in panels.export] if panels else []
    if fmt == "json":
        return JsonResponse({"results": runs, "production": series})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, restval="")
    writer.writeheader()
    writer.writerows({"section": "run", **r} for r in runs)
    writer.writerows({"section": "production", **r} for r in series)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="dashboard.csv"'
    return response


urlpatterns = [
    path("dashboard/", dashboard_view, name="dashboard"),
    path("dashboard/export.csv", export_view, {"fmt": "csv"}, name="export-csv"),
    path("dashboard/export.json", export_view, {"fmt": "json"}, name="export-json"),
]
