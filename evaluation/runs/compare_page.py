"""The compare page: any two runs on one golden snapshot, for reviewers.

Mounted by config.urls as `evaluation:comparison` (`?a=<run>&b=<run>`, the
address the dashboard links to) and `evaluation:comparison-item` (one item with
the first rows of its results). Login through the admin's login page; reading
needs `evaluation.view_evaluationrun`, as the champion comparison in the admin.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse_lazy

from evaluation.models import EvaluationResult, EvaluationRun
from evaluation.runs import pairs
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.pair_rows import (
    PREVIEW_ROWS,
    gold_preview,
    prediction_preview,
    sql_diff,
)
from registry.models import PromptTemplate

LOGIN = reverse_lazy("admin:login")
VIEW_RUNS = "evaluation.view_evaluationrun"
PER_PAGE = 25


def _render(
    request: HttpRequest, name: str, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    return TemplateResponse(
        request,
        f"evaluation/{name}.html",
        {**admin.site.each_context(request), **context},
        status=status,
    )


def _runs(request: HttpRequest) -> tuple[EvaluationRun | None, EvaluationRun | None]:
    """The runs named by `a` and `b`, either absent; ComparisonError (400) for a
    malformed id, DoesNotExist (404) for an unknown one."""
    found = []
    for name in ("a", "b"):
        raw = request.GET.get(name, "").strip()
        found.append(pairs.find_run(raw, name=name) if raw else None)
    return found[0], found[1]


def _picker(request: HttpRequest, a: EvaluationRun | None) -> dict[str, Any]:
    if a is not None:
        return {"a": a, "partners": list(pairs.partner_runs(a)[:200])}
    name = request.GET.get("template", "")
    template = PromptTemplate.objects.filter(name=name).first() if name else None
    if name and template is None:
        raise ComparisonError(f"template: no template named {name[:60]!r}.")
    return {
        "templates": PromptTemplate.objects.order_by("name"),
        "template": template,
        "groups": pairs.picker_snapshots(template) if template else [],
    }


def _problem(request: HttpRequest, message: str, status: int) -> HttpResponse:
    """The message above a fresh picker, so the reviewer can pick again."""
    context = {
        "title": "Compare two runs",
        "problem": message,
        "templates": PromptTemplate.objects.order_by("name"),
    }
    return _render(request, "compare", context, status=status)


def _query(a: EvaluationRun, b: EvaluationRun, filters: pairs.ItemFilters) -> str:
    """The query string of the pair with its item filters (page left out)."""
    params = {"a": a.pk, "b": b.pk, "change": filters.change}
    params |= {"segment": filters.segment, "q": filters.q}
    return urlencode({k: v for k, v in params.items() if v})


@login_required(login_url=LOGIN)
@permission_required(VIEW_RUNS, raise_exception=True)
def comparison_view(request: HttpRequest) -> HttpResponse:
    """Summary and paginated items of runs `a` and `b`; the picker without them."""
    try:
        a, b = _runs(request)
        if a is None or b is None:
            if b is not None:
                raise ComparisonError("a: pick the run to compare with.", field="a")
            context = {"title": "Compare two runs", **_picker(request, a)}
            return _render(request, "compare", context)
        filters = pairs.ItemFilters.read(request.GET)
        summary = pairs.pair_summary(a, b)
        page, items = pairs.list_pair_items(
            a, b, filters, page=request.GET.get("page") or 1, per_page=PER_PAGE
        )
    except EvaluationRun.DoesNotExist:
        return _problem(request, "No run with that id: check a and b.", 404)
    except ComparisonError as exc:
        return _problem(request, exc.message, 400)
    context = {
        "title": f"Run {a.pk} vs run {b.pk}",
        "a": a,
        "b": b,
        "summary": summary,
        "filters": filters,
        "changes": pairs.CHANGES,
        "segments": [s.name for s in summary.segments],
        "page": page,
        "items": [
            (item, sql_diff(item.a.predicted_sql, item.b.predicted_sql))
            for item in items
        ],
        "pair_query": _query(a, b, pairs.ItemFilters()),
        "filter_query": _query(a, b, filters),
    }
    return _render(request, "compare", context)


@login_required(login_url=LOGIN)
@permission_required(VIEW_RUNS, raise_exception=True)
def comparison_item_view(request: HttpRequest) -> HttpResponse:
    """One item of the pair: both predictions (diffed), verdicts and the first
    rows of the gold result and of each prediction, run now in the sandbox."""
    try:
        a, b = _runs(request)
        if a is None or b is None:
            raise ComparisonError("a and b: pick two runs.", field="a")
        filters = pairs.ItemFilters.read(request.GET)
        item = pairs.get_item_pair(a, b, request.GET.get("item", ""))
    except EvaluationRun.DoesNotExist:
        return _problem(request, "No run with that id: check a and b.", 404)
    except EvaluationResult.DoesNotExist:
        return _problem(request, "Both runs must have a result for this item.", 404)
    except ComparisonError as exc:
        return _problem(request, exc.message, 400)
    context = {
        "title": f"Item {item.example.pk}: run {a.pk} vs run {b.pk}",
        "a": a,
        "b": b,
        "item": item,
        "diff": sql_diff(item.a.predicted_sql, item.b.predicted_sql),
        "previews": [
            ("Gold", item.example.sql, gold_preview(item.a, run=a), "gold"),
            (f"Run {a.pk} (A)", item.a.predicted_sql, prediction_preview(item.a), "a"),
            (f"Run {b.pk} (B)", item.b.predicted_sql, prediction_preview(item.b), "b"),
        ],
        "preview_rows": PREVIEW_ROWS,
        "filter_query": _query(a, b, filters),
    }
    return _render(request, "compare_item", context)
