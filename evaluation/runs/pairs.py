"""Any two runs on one golden snapshot, side by side: reads for the compare page.

Run A is the baseline and run B the one compared with it: an item is *fixed*
when B gets it right (execution accuracy) and A does not, *broken* the other
way round. Rates leave out items whose golden query does not run, as the run
summaries do, and the paired test (McNemar) only counts items both runs scored.
Every read here is a bounded number of queries, whatever the snapshot's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from evaluation.models import EvaluationResult, EvaluationRun
from evaluation.runs.comparison import McNemar, check_comparable, mcnemar
from evaluation.runs.exceptions import ComparisonError
from evaluation.runs.selectors import list_runs
from evaluation.runs.summaries import GOLD_ERROR, METRICS, segment_keys
from evaluation.statistics import wilson_interval
from registry.models import PromptTemplate

__all__ = [
    "CHANGES",
    "ItemFilters",
    "MetricRow",
    "PairSummary",
    "find_run",
    "list_pair_items",
    "pair_summary",
    "partner_runs",
    "picker_snapshots",
    "read_pair",
]

# Run summary metric -> the result field holding its per-item verdict.
VERDICT_FIELDS = {
    "exact_match": "exact_match",
    "execution_success": "executed",
    "execution_accuracy": "execution_match",
    "row_count_ok": "row_count_ok",
}
METRIC_LABELS = {
    "exact_match": "Exact match (EM)",
    "execution_success": "Execution success",
    "execution_accuracy": "Execution accuracy (EX)",
    "row_count_ok": "Row-count match",
}
CHANGES = ("changed", "fixed", "broken")
HEADLINE = "execution_accuracy"


def _is_id(raw: str) -> bool:
    # ASCII digits only ("١٢".isdigit() is true too), and short enough for a
    # bigint: PostgreSQL refuses an out-of-range integer instead of finding none.
    return raw.isascii() and raw.isdigit() and len(raw) <= 18


def find_run(raw: str | None, *, name: str) -> EvaluationRun:
    """The run a query parameter names. ComparisonError (400) for a missing or
    malformed id; EvaluationRun.DoesNotExist (404) for an unknown one."""
    if not raw:
        raise ComparisonError(f"{name}: pick a run (a run id).", field=name)
    if not _is_id(raw):
        raise ComparisonError(f"{name}: {raw[:40]!r} is not a run id.", field=name)
    return list_runs().get(pk=int(raw))


def read_pair(
    a: EvaluationRun, b: EvaluationRun
) -> tuple[EvaluationRun, EvaluationRun]:
    """The pair if it can be compared, else ComparisonError naming the run:
    the same run twice, different snapshots or modes, or a run not succeeded."""
    try:
        check_comparable(a, b)
    except ComparisonError as exc:
        raise ComparisonError(
            exc.message, field="b" if exc.field == "challenger" else "a"
        ) from None
    return a, b


@dataclass(frozen=True, slots=True)
class Rate:
    successes: int
    n: int

    @property
    def value(self) -> float | None:
        return self.successes / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.successes, self.n)

    @property
    def percent(self) -> str:
        return "-" if self.value is None else f"{self.value * 100:.1f}%"

    @property
    def interval_text(self) -> str:
        """The Wilson 95% interval in percent, one decimal."""
        interval = self.interval
        if interval is None:
            return ""
        return f"{interval[0] * 100:.1f}\u2013{interval[1] * 100:.1f}"

    def as_dict(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "successes": self.successes,
            "n": self.n,
            "rate": self.value,
            "wilson_95": list(interval) if interval else None,
        }


@dataclass(frozen=True, slots=True)
class MetricRow:
    """One metric (or segment) for both runs, the delta and the paired test."""

    name: str
    label: str
    a: Rate
    b: Rate
    test: McNemar

    @property
    def delta_points(self) -> float | None:
        if self.a.value is None or self.b.value is None:
            return None
        return (self.b.value - self.a.value) * 100

    @property
    def delta_text(self) -> str:
        delta = self.delta_points
        return "-" if delta is None else f"{delta:+.1f}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.as_dict(),
            "b": self.b.as_dict(),
            "delta_points": self.delta_points,
            "mcnemar": {
                "fixed": self.test.fixed,
                "broken": self.test.broken,
                "p_value": self.test.p_value,
                "mid_p_value": self.test.mid_p_value,
            },
        }


@dataclass(frozen=True)
class PairSummary:
    a: EvaluationRun
    b: EvaluationRun
    metrics: list[MetricRow]
    segments: list[MetricRow] = field(default_factory=list)

    @property
    def headline(self) -> MetricRow:
        return next(m for m in self.metrics if m.name == HEADLINE)

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.pk,
            "b": self.b.pk,
            "snapshot": self.a.snapshot_id,
            "mode": self.a.mode,
            "metrics": {m.name: m.as_dict() for m in self.metrics},
            "segments": {s.name: s.as_dict() for s in self.segments},
        }


Verdicts = dict[int, tuple[bool, ...]]


def _verdicts(run: EvaluationRun) -> tuple[Verdicts, dict[int, tuple[str, str]]]:
    fields = [VERDICT_FIELDS[m] for m in METRICS]
    rows = (
        EvaluationResult.objects.filter(run=run)
        .exclude(error_kind=GOLD_ERROR)
        .values_list(
            "golden_example_id",
            "golden_example__domain",
            "golden_example__difficulty",
            *fields,
        )
    )
    verdicts: Verdicts = {}
    segments: dict[int, tuple[str, str]] = {}
    for pk, domain, difficulty, *flags in rows:
        verdicts[pk] = tuple(bool(f) for f in flags)
        segments[pk] = segment_keys(domain, difficulty)
    return verdicts, segments


def _row(name: str, label: str, index: int, a: Verdicts, b: Verdicts) -> MetricRow:
    shared = a.keys() & b.keys()
    fixed = sum(1 for pk in shared if b[pk][index] and not a[pk][index])
    broken = sum(1 for pk in shared if a[pk][index] and not b[pk][index])
    return MetricRow(
        name,
        label,
        Rate(sum(v[index] for v in a.values()), len(a)),
        Rate(sum(v[index] for v in b.values()), len(b)),
        mcnemar(fixed=fixed, broken=broken),
    )


def pair_summary(a: EvaluationRun, b: EvaluationRun) -> PairSummary:
    """Per metric both rates with Wilson 95% intervals, the delta in points and
    McNemar on the discordant pairs; per segment the same for execution
    accuracy. Read-only; two queries (one per run)."""
    read_pair(a, b)
    a_verdicts, segment_of = _verdicts(a)
    b_verdicts, b_segments = _verdicts(b)
    segment_of.update(b_segments)
    metrics = [
        _row(m, METRIC_LABELS[m], i, a_verdicts, b_verdicts)
        for i, m in enumerate(METRICS)
    ]
    headline = METRICS.index(HEADLINE)
    segments = []
    for key in sorted({k for keys in segment_of.values() for k in keys}):
        members = {pk for pk, keys in segment_of.items() if key in keys}
        segments.append(
            _row(
                key,
                key,
                headline,
                {pk: v for pk, v in a_verdicts.items() if pk in members},
                {pk: v for pk, v in b_verdicts.items() if pk in members},
            )
        )
    return PairSummary(a, b, metrics, segments)


@dataclass(frozen=True, slots=True)
class ItemFilters:
    """What the item list shows: a change kind, a segment, a text search."""

    change: str = ""
    segment: str = ""
    q: str = ""

    @classmethod
    def read(cls, params: Any) -> ItemFilters:
        """From a query string; ComparisonError names a bad parameter."""
        change = params.get("change") or ""
        if change and change not in CHANGES:
            raise ComparisonError(
                f"change must be one of {', '.join(CHANGES)}.", field="change"
            )
        segment = params.get("segment") or ""
        if segment and not segment.startswith(("domain:", "difficulty:")):
            raise ComparisonError(
                "segment must look like domain:<name> or difficulty:<level>.",
                field="segment",
            )
        return cls(change, segment, (params.get("q") or "").strip()[:200])


def _segment_filter(segment: str) -> Q:
    kind, _, value = segment.partition(":")
    if kind == "domain":
        return Q(golden_example__domain="" if value == "unspecified" else value)
    if value == "unknown":
        return Q(golden_example__difficulty__in=["", "unknown"])
    return Q(golden_example__difficulty=value)


def _items(a: EvaluationRun, b: EvaluationRun, filters: ItemFilters) -> QuerySet[Any]:
    other = EvaluationResult.objects.filter(
        run=b, golden_example_id=OuterRef("golden_example_id")
    )
    items = (
        EvaluationResult.objects.filter(run=a)
        .exclude(error_kind=GOLD_ERROR)
        .annotate(b_match=Subquery(other.values("execution_match")[:1]))
        .filter(b_match__isnull=False)
    )
    if filters.change == "fixed":
        items = items.filter(execution_match=False, b_match=True)
    elif filters.change == "broken":
        items = items.filter(execution_match=True, b_match=False)
    elif filters.change == "changed":
        items = items.filter(
            Q(execution_match=True, b_match=False)
            | Q(execution_match=False, b_match=True)
        )
    if filters.segment:
        items = items.filter(_segment_filter(filters.segment))
    if filters.q:
        q = filters.q
        items = items.filter(
            Q(golden_example__question__icontains=q)
            | Q(golden_example__sql__icontains=q)
            | Q(predicted_sql__icontains=q)
            | Exists(other.filter(predicted_sql__icontains=q))
        )
    return items.select_related("golden_example").order_by("golden_example_id")


@dataclass(frozen=True, slots=True)
class ItemPair:
    """One golden item with both runs' results on it."""

    a: EvaluationResult
    b: EvaluationResult

    @property
    def example(self) -> Any:
        return self.a.golden_example

    @property
    def change(self) -> str:
        if self.a.execution_match == self.b.execution_match:
            return "both right" if self.a.execution_match else "both wrong"
        return "fixed" if self.b.execution_match else "broken"


def list_pair_items(
    a: EvaluationRun,
    b: EvaluationRun,
    filters: ItemFilters,
    *,
    page: Any = 1,
    per_page: int = 25,
) -> tuple[Page[Any], list[ItemPair]]:
    """One page of items (golden example order) with both results. Three queries
    (count, A's page, B's results for that page), whatever the page size."""
    read_pair(a, b)
    shown = Paginator(_items(a, b, filters), per_page).get_page(page)
    a_results = list(shown.object_list)
    b_results = {
        r.golden_example_id: r
        for r in EvaluationResult.objects.filter(
            run=b, golden_example_id__in=[r.golden_example_id for r in a_results]
        )
    }
    return shown, [ItemPair(r, b_results[r.golden_example_id]) for r in a_results]


def get_item_pair(a: EvaluationRun, b: EvaluationRun, raw: str) -> ItemPair:
    """Both results on one golden item; ComparisonError for a malformed id,
    EvaluationResult.DoesNotExist (404) when either run has no such item."""
    read_pair(a, b)
    if not _is_id(raw):
        raise ComparisonError(f"item: {raw[:40]!r} is not an item id.", field="item")
    results = EvaluationResult.objects.select_related(
        "golden_example__target_database"
    ).filter(golden_example_id=int(raw))
    return ItemPair(results.get(run=a), results.get(run=b))


def picker_snapshots(template: PromptTemplate) -> list[dict[str, Any]]:
    """The template's succeeded runs grouped by (snapshot, mode), newest first:
    only runs within one group can be compared, so the picker offers each group
    on its own. Groups with a single run are left out. One query."""
    runs = (
        list_runs()
        .filter(
            prompt_version__template=template, status=EvaluationRun.Status.SUCCEEDED
        )
        .order_by("-snapshot__created_at", "snapshot_id", "mode", "-finished_at", "-pk")
    )
    groups: dict[tuple[int, str], dict[str, Any]] = {}
    for run in runs:
        group = groups.setdefault(
            (run.snapshot_id, run.mode),
            {"snapshot": run.snapshot, "mode": run.mode, "runs": []},
        )
        group["runs"].append(run)
    return [g for g in groups.values() if len(g["runs"]) > 1]


def partner_runs(run: EvaluationRun) -> QuerySet[EvaluationRun]:
    """Succeeded runs comparable with `run` (same snapshot and mode), any
    template, newest first; `run` itself is not offered."""
    return (
        list_runs()
        .filter(
            snapshot_id=run.snapshot_id,
            mode=run.mode,
            status=EvaluationRun.Status.SUCCEEDED,
        )
        .exclude(pk=run.pk)
        .order_by("-finished_at", "-pk")
    )
