"""Markdown rendering of a champion/challenger comparison, for people to read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from evaluation.runs.comparison import Comparison
from evaluation.runs.summaries import METRICS

__all__ = ["comparison_markdown"]

_LABELS = {
    "exact_match": "Exact match",
    "execution_success": "Execution success",
    "execution_accuracy": "Execution accuracy",
    "row_count_ok": "Row count OK",
}


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def _with_interval(row: Mapping[str, Any], side: str) -> str:
    """A rate and its Wilson 95% interval, e.g. "82.7% (80.2-85.0)"."""
    interval = row.get("wilson_95", {}).get(side)
    if not interval:
        return _pct(row[side])
    low, high = interval
    return f"{_pct(row[side])} ({low * 100:.1f}\u2013{high * 100:.1f})"


def _signed(points: float) -> str:
    return f"{points:+.1f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _run_name(run: Any) -> str:
    return (
        f"run {run.pk} ({run.prompt_version.template.name} prompt "
        f"v{run.prompt_version.number}, model {run.model_version.name})"
    )


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown report: overall and per-segment tables,
    significance, seen/unseen split, and the fixed and broken items."""
    data = comparison.as_dict()
    lines = [
        "# Champion vs challenger",
        "",
        f"- Champion: {_run_name(comparison.champion)}",
        f"- Challenger: {_run_name(comparison.challenger)}",
        f"- Snapshot {data['snapshot']}, scoring mode `{data['mode']}`, "
        f"{data['overall']['n']['champion']} items",
        "",
        "## Overall",
        "",
        "| Metric | Champion (95% CI) | Challenger (95% CI) | Delta (points) |",
        "|---|---:|---:|---:|",
    ]
    for metric in METRICS:
        row = data["overall"][metric]
        lines.append(
            f"| {_LABELS[metric]} | {_with_interval(row, 'champion')} | "
            f"{_with_interval(row, 'challenger')} | {_signed(row['delta_points'])} |"
        )
    test = data["mcnemar"]
    lines += [
        "",
        f"McNemar exact test on execution accuracy: {test['fixed']} fixed, "
        f"{test['broken']} broken, p = {test['p_value']:.4f} "
        f"(mid-p = {test['mid_p_value']:.4f}).",
        "",
        "## Execution accuracy by segment",
        "",
        "| Segment | n | Champion (95% CI) | Challenger (95% CI) | Delta (points) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, row in data["segments"].items():
        ex = row["execution_accuracy"]
        lines.append(
            f"| {_cell(key)} | {row['n']['challenger']} | "
            f"{_with_interval(ex, 'champion')} | {_with_interval(ex, 'challenger')} | "
            f"{_signed(ex['delta_points'])} |"
        )
    lines += [
        "",
        "## Items whose SQL the prompt has seen",
        "",
        "| Run | Seen (n) | Seen accuracy | Unseen (n) | Unseen accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for side in ("champion", "challenger"):
        split = data["seen_split"][side]
        lines.append(
            f"| {side} | {split['seen']['n']} | "
            f"{_pct(split['seen']['execution_accuracy'])} | {split['unseen']['n']} | "
            f"{_pct(split['unseen']['execution_accuracy'])} |"
        )
    for title, items in (("Fixed", data["fixed"]), ("Broken", data["broken"])):
        lines += ["", f"## {title} items ({len(items)})", ""]
        if not items:
            lines.append("None.")
            continue
        lines += ["| Golden item | Question | Champion SQL | Challenger SQL |"]
        lines += ["|---:|---|---|---|"]
        lines += [
            f"| {item['golden_example_id']} | {_cell(item['question'])} | "
            f"`{_cell(item['champion_sql'])}` | `{_cell(item['challenger_sql'])}` |"
            for item in items
        ]
    return "\n".join(lines) + "\n"
