"""Validation of a dataset snapshot (the cycle's validate step).

Validation checks the schema of every row, the volume per segment, the shift of
the segment mix against the previous snapshot, and contamination by the golden
snapshot the challenger will be evaluated on (see `governance.contamination`).
Rows that fail are left out and counted; findings that need a person block the
cycle (it logs `investigate`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlglot

from evaluation.exact_match import normalize_sql
from evaluation.models import GoldenExample, GoldenSetSnapshot
from feedback.models import Interaction
from governance.cycle import contamination
from governance.cycle.models import DatasetSnapshot
from registry.models import PromptVersion
from targets.schema import sqlglot_schema

SEGMENTS = frozenset(GoldenExample.Difficulty.values)
USABLE_CONSENT = frozenset(
    (Interaction.ConsentScope.IMPROVEMENT, Interaction.ConsentScope.TRAINING)
)
EXCLUDED_SHOWN = 20


@dataclass(frozen=True)
class Thresholds:
    """When validation findings block the cycle."""

    min_examples: int = 5
    max_shift: float = 0.5
    max_contaminated_share: float = 0.5
    near_duplicate: float = contamination.NEAR_DUPLICATE_THRESHOLD


@dataclass
class Validation:
    """The validate step's findings and what may be used."""

    report: dict[str, Any]
    usable: list[dict[str, Any]] = field(default_factory=list)
    production_clean: list[dict[str, str]] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)


def schema_problem(row: dict[str, Any], dialect: str) -> str:
    """Why a dataset row cannot be used ("" when it can)."""
    question, sql = row.get("question"), row.get("sql")
    if not isinstance(question, str) or not question.strip():
        return "empty question"
    if not isinstance(sql, str) or not sql.strip():
        return "empty SQL"
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except sqlglot.errors.SqlglotError:
        return "SQL does not parse"
    if len(statements) != 1:
        return "not exactly one statement"
    if row.get("segment") not in SEGMENTS:
        return f"unknown segment {row.get('segment')!r}"
    if row.get("consent_scope") not in USABLE_CONSENT:
        return f"consent {row.get('consent_scope')!r} does not allow improvement"
    return ""


def golden_items(snapshot: GoldenSetSnapshot) -> list[contamination.Golden]:
    """The snapshot's examples as the contamination check needs them."""
    examples = GoldenExample.objects.filter(snapshots=snapshot).select_related(
        "target_database"
    )
    goldens = []
    for example in examples.order_by("pk"):
        target = example.target_database
        normalized = normalize_sql(
            example.sql, dialect=target.dialect, schema=sqlglot_schema(target.schema)
        )
        goldens.append(
            contamination.Golden(
                id=example.pk,
                question=example.question,
                normalized_sql=normalized or "",
                source_interaction_id=str(example.source_interaction_id or ""),
                source_feedback_id=str(example.source_feedback_id or ""),
            )
        )
    return goldens


def _shift(
    dataset: DatasetSnapshot, current: Counter[str], thresholds: Thresholds
) -> dict[str, Any]:
    previous = dataset.previous
    if previous is None:
        return {"previous": None, "tvd": None, "flagged": False}
    before = previous.manifest.get("counts", {}).get("by_segment", {})
    tvd = contamination.total_variation(current, before)
    enough = min(sum(current.values()), sum(before.values())) >= thresholds.min_examples
    return {
        "previous": previous.pk,
        "previous_by_segment": before,
        "measure": "total variation distance of segment shares",
        "tvd": round(tvd, 4),
        "threshold": thresholds.max_shift,
        "flagged": enough and tvd > thresholds.max_shift,
    }


def _candidates(
    rows: list[dict[str, Any]], production: PromptVersion, dialect: str, schema: Any
) -> list[contamination.Candidate]:
    def norm(sql: str) -> str:
        return normalize_sql(sql, dialect=dialect, schema=schema) or ""

    found = [
        contamination.Candidate(
            key=f"review:{row['review_item']}",
            question=row["question"],
            normalized_sql=norm(row["sql"]),
            golden_example_id=row["golden_example"],
            interaction_id=row["interaction"],
            feedback_id=row["feedback"],
        )
        for row in rows
    ]
    found += [
        contamination.Candidate(
            key=f"production:{index}",
            question=example["question"],
            normalized_sql=norm(example["sql"]),
        )
        for index, example in enumerate(production.few_shot_examples)
    ]
    return found


def validate_dataset(
    *,
    dataset: DatasetSnapshot,
    production: PromptVersion,
    golden_snapshot: GoldenSetSnapshot | None,
    thresholds: Thresholds,
) -> Validation:
    """Check the dataset's rows and production's few-shot examples.

    Read-only. Without a golden snapshot nothing is checked for contamination
    (the cycle then stops: there is nothing to evaluate on).
    """
    target = dataset.template.target_database
    dialect, schema = target.dialect, sqlglot_schema(target.schema)
    invalid, valid = [], []
    for row in dataset.rows:
        problem = schema_problem(row, dialect)
        if problem:
            invalid.append({"review_item": row.get("review_item"), "reason": problem})
        else:
            valid.append(row)
    volume = Counter(row["segment"] for row in valid)
    report: dict[str, Any] = {
        "schema": {"rows": len(dataset.rows), "valid": len(valid), "invalid": invalid},
        "volume": {"total": len(valid), "by_segment": dict(sorted(volume.items()))},
        "shift": _shift(dataset, volume, thresholds),
    }
    result = Validation(report=report)
    if report["shift"]["flagged"]:
        result.blocking.append(
            f"the segment mix shifted by {report['shift']['tvd']:.2f} (total "
            f"variation) against dataset #{report['shift']['previous']}"
        )
    if golden_snapshot is None:
        report["contamination"] = {"golden_snapshot": None}
        result.usable = valid
        return result
    candidates = _candidates(valid, production, dialect, schema)
    verdicts = contamination.check_candidates(
        candidates, golden_items(golden_snapshot), threshold=thresholds.near_duplicate
    )
    row_verdicts, shot_verdicts = verdicts[: len(valid)], verdicts[len(valid) :]
    result.usable = [r for r, v in zip(valid, row_verdicts, strict=True) if v.clean]
    result.production_clean = [
        e
        for e, v in zip(production.few_shot_examples, shot_verdicts, strict=True)
        if v.clean
    ]
    rows_counts = contamination.contamination_counts(row_verdicts)
    report["contamination"] = {
        "golden_snapshot": golden_snapshot.pk,
        "measure": "Jaccard similarity of word-token sets of normalized questions",
        "near_duplicate_threshold": thresholds.near_duplicate,
        "approved": rows_counts,
        "production_examples": contamination.contamination_counts(shot_verdicts),
        "excluded": [
            {
                "key": v.key,
                "reason": v.reason,
                "golden_example": v.golden_id,
                "similarity": round(v.similarity, 4),
            }
            for v in verdicts
            if not v.clean
        ][:EXCLUDED_SHOWN],
    }
    share = rows_counts["excluded"] / len(valid) if valid else 0.0
    if share > thresholds.max_contaminated_share:
        result.blocking.append(
            f"{rows_counts['excluded']} of {len(valid)} approved corrections are "
            "golden examples of the evaluation snapshot (or near-duplicates)"
        )
    return result
