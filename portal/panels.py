"""The dashboard's panels: selectors' numbers drawn as SVG, and as export rows.

Each panel function returns the chart (or "" with the reason it is empty) so
the template only places them; the export functions return the same numbers
as flat records for CSV/JSON.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from evaluation.statistics import wilson_interval
from portal import production
from portal.charts import Marker, Point, Series, line_chart
from portal.dashboard import (
    METRIC_NAMES,
    OTHER_PAIRS,
    Accuracy,
    Filters,
    guideline_marks,
    promotion_marks,
)


@dataclass(frozen=True)
class Panel:
    """A chart, or why there is none."""

    chart: SafeString
    empty: str = ""
    title: str = ""


def _svg(markup: str) -> SafeString:
    return mark_safe(markup)  # noqa: S308 (charts escape every text they draw)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _band(successes: int, n: int) -> tuple[float, float] | None:
    return wilson_interval(successes, n) if n else None


def accuracy_panel(accuracy: Accuracy, filters: Filters) -> Panel:
    """Accuracy over time, one line per label with Wilson bands, promotion and
    guideline markers; each point links to its run."""
    metric = METRIC_NAMES[filters.metric]
    if not accuracy.rows:
        scope = filters.template.name if filters.template else "any template"
        return Panel(
            _svg(""),
            f"No finished evaluation run of {scope} reports {metric} for "
            f"{filters.eval_segment} yet"
            + (" on this snapshot." if filters.snapshot else "."),
        )
    series = []
    for label, points in accuracy.lines.items():
        one = Series(label, connect=label != OTHER_PAIRS)
        for p in points:
            band = (p.low, p.high) if p.low is not None and p.high is not None else None
            assert p.run.finished_at is not None  # noqa: S101 (finished runs)
            interval = f" [95% CI {_pct(p.low)} to {_pct(p.high)}]" if band else ""
            one.points.append(
                Point(
                    p.run.finished_at,
                    p.value,
                    f"{label}: {metric} {_pct(p.value)}{interval}, n={p.n} · run "
                    f"{p.run.pk}, prompt v{p.run.prompt_version.number} + "
                    f"{p.run.model_version.name}, snapshot {p.run.snapshot_id}, "
                    f"{p.run.finished_at:%Y-%m-%d %H:%M} UTC",
                    href=reverse(
                        "admin:evaluation_evaluationrun_change", args=[p.run.pk]
                    ),
                    band=band,
                )
            )
        series.append(one)
    times = [p.run.finished_at for p in accuracy.rows if p.run.finished_at]
    start, end = min(times), max(times)
    markers = [
        Marker(
            m.at,
            m.text,
            "promotion",
            reverse("admin:governance_promotionrequest_review", args=[m.pk]),
        )
        for m in promotion_marks(filters.template, start, end)
    ] + [Marker(at, text, "guidelines") for at, text in guideline_marks(start, end)]
    return Panel(
        _svg(
            line_chart(
                series,
                title=f"{metric} over time per label ({filters.eval_segment})",
                y_label=f"{metric}, % of examples",
                x_label="run finished (UTC)",
                markers=sorted(markers, key=lambda m: m.at),
                chart_id="accuracy-chart",
            )
        )
    )


def _no_traffic(filters: Filters) -> str:
    scope = " and ".join(
        part
        for part in (
            f"segment {filters.task_type!r}" if filters.task_type else "",
            f"tenant {filters.tenant!r}" if filters.tenant else "",
        )
        if part
    )
    within = f" for {scope}" if scope else ""
    return f"No interaction was recorded{within} in the last {filters.days} days."


@dataclass(frozen=True)
class Production:
    """Every production panel of one template."""

    interactions: Panel
    negative: Panel
    corrections: Panel
    online: dict[str, Panel]
    threshold_note: str
    export: list[dict[str, Any]]


def _scope(filters: Filters) -> dict[str, Any]:
    assert filters.template is not None  # noqa: S101 (caller checks)
    return {
        "template": filters.template,
        "period": production.Period.last(filters.days),
        "task_type": filters.task_type,
        "tenant": filters.tenant,
    }


def production_panels(filters: Filters) -> Production | None:
    """The production panels for the filters' template (None without one)."""
    if filters.template is None:
        return None
    scope = _scope(filters)
    per_day = production.interactions_per_day(**scope)
    windows = production.negative_rate_windows(**scope)
    weeks = production.corrections_per_week(**scope)
    online = production.online_by_label(**scope)
    empty = _no_traffic(filters) if not any(n for _, n in per_day) else ""
    export: list[dict[str, Any]] = []

    volume = Series("interactions")
    for day, n in per_day:
        volume.points.append(Point(day, n, f"{day:%Y-%m-%d}: {n} interactions"))
        export.append({"series": "interactions_per_day", "at": day, "value": n})
    rate, threshold = Series("negative-feedback rate"), Series("trigger threshold")
    threshold.dashed = True
    for w in windows:
        if w.rate is not None:
            rate.points.append(
                Point(
                    w.start,
                    w.rate,
                    f"window from {w.start:%Y-%m-%d}: {_pct(w.rate)} negative "
                    f"({w.negative} of n={w.total})",
                    band=_band(w.negative, w.total),
                )
            )
        if w.threshold is not None:
            threshold.points.append(
                Point(
                    w.start,
                    w.threshold,
                    f"window from {w.start:%Y-%m-%d}: trigger fires above "
                    f"{_pct(w.threshold)}",
                )
            )
        export.append(
            {
                "series": "negative_rate",
                "at": w.start,
                "value": w.rate,
                "n": w.total,
                "negative": w.negative,
                "threshold": w.threshold,
            }
        )
    sent, approved = Series("corrections submitted"), Series("corrections approved")
    for week, s, a in weeks:
        sent.points.append(Point(week, s, f"week of {week:%Y-%m-%d}: {s} submitted"))
        approved.points.append(Point(week, a, f"week of {week:%Y-%m-%d}: {a} approved"))
        export.append({"series": "corrections_submitted", "at": week, "value": s})
        export.append({"series": "corrections_approved", "at": week, "value": a})
    name = filters.template.name
    period = scope["period"]
    span = (period.start, period.end - dt.timedelta(days=1))
    per_label = _online_panels(online, export, empty, span)
    return Production(
        interactions=Panel(
            _svg(
                line_chart(
                    [volume],
                    title=f"Interactions per day: {name}",
                    y_label="interactions per day",
                    percent=False,
                    chart_id="interactions-chart",
                    span=span,
                )
            ),
            empty,
        ),
        negative=Panel(
            _svg(
                line_chart(
                    [rate, threshold],
                    title=f"Negative-feedback rate per trigger window: {name}",
                    y_label="negative feedback, % of interactions",
                    x_label="window start (UTC)",
                    chart_id="negative-chart",
                    span=span,
                )
            ),
            empty,
        ),
        corrections=Panel(
            _svg(
                line_chart(
                    [sent, approved],
                    title=f"Corrections per week: {name}",
                    y_label="corrections per week",
                    x_label="week starting (UTC)",
                    percent=False,
                    chart_id="corrections-chart",
                    span=span,
                )
            ),
            empty
            or (
                "No correction was submitted or approved in this period."
                if not any(s or a for _, s, a in weeks)
                else ""
            ),
        ),
        online=per_label,
        threshold_note=(
            "The threshold is the feedback-spike trigger's (mean + sigma x sd of the "
            "previous windows with enough traffic), computed on the whole "
            "template's traffic; a gap means too little history to fire."
        ),
        export=export,
    )


ONLINE = (
    ("negative_rate", "negative-feedback rate", "% of interactions", True),
    ("success_rate", "execution success", "% of interactions", True),
    ("latency_p95_ms", "latency p95", "milliseconds (server)", False),
)


def _online_panels(
    online: dict[str, dict[dt.datetime, production.LabelWeek]],
    export: list[dict[str, Any]],
    empty: str,
    span: tuple[dt.datetime, dt.datetime],
) -> dict[str, Panel]:
    panels = {}
    for key, title, unit, percent in ONLINE:
        series = []
        for label, weeks in online.items():
            one = Series(label)
            for week, stats in weeks.items():
                value = getattr(stats, key)
                if value is None:
                    continue
                band = None
                if key == "negative_rate":
                    band = _band(stats.negatives, stats.interactions)
                elif key == "success_rate":
                    band = _band(stats.successes, stats.interactions)
                shown = _pct(value) if percent else f"{value:,.0f} ms"
                one.points.append(
                    Point(
                        week,
                        value,
                        f"{label}, week of {week:%Y-%m-%d}: {title} {shown} "
                        f"(n={stats.interactions})",
                        band=band,
                    )
                )
                export.append(
                    {
                        "series": f"online_{key}",
                        "label": label,
                        "at": week,
                        "value": value,
                        "n": stats.interactions,
                    }
                )
            series.append(one)
        panels[key] = Panel(
            _svg(
                line_chart(
                    series,
                    title=f"{title} per week and served label",
                    y_label=f"{title}, {unit}",
                    x_label="week starting (UTC)",
                    percent=percent,
                    chart_id=f"online-{key.replace('_', '-')}-chart",
                    span=span,
                )
            ),
            empty,
            title[:1].upper() + title[1:] + " per week, per served label",
        )
    return panels
