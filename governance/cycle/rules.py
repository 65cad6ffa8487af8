"""The retraining cycle's rules: few-shot selection, decisions, changelog.

Django-free and deterministic, so every rule is tested on engineered inputs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from feedback.redaction import normalize_question

__all__ = [
    "APPROVED",
    "PRODUCTION",
    "CycleFacts",
    "Ruling",
    "Selection",
    "ShotCandidate",
    "changelog",
    "decide",
    "fine_tuning_advice",
    "select_few_shot",
]

APPROVED, PRODUCTION = "approved", "production"
RETRAIN, DEFER, INVESTIGATE, HALT = "retrain", "defer", "investigate", "halt"


@dataclass(frozen=True, slots=True)
class ShotCandidate:
    """A question/SQL pair that may become a few-shot example.

    `origin` is `approved` (a reviewed correction of this cycle's dataset) or
    `production` (already in the production prompt); `order` ranks candidates of
    one origin (lower first: newest approval, or position in the prompt).
    """

    question: str
    sql: str
    segment: str
    origin: str
    order: int

    def as_example(self) -> dict[str, str]:
        return {"question": self.question, "sql": self.sql}


@dataclass(frozen=True)
class Selection:
    """The chosen examples in prompt order, and what the bounds left out."""

    examples: list[ShotCandidate]
    per_segment: dict[str, int]
    over_bound: int
    duplicates: int


def select_few_shot(
    candidates: Iterable[ShotCandidate], *, max_per_segment: int, max_total: int
) -> Selection:
    """Pick at most `max_per_segment` per segment and `max_total` overall.

    Approved corrections come before production's examples (the refresh), the
    newest first; a question asked twice (same normalized text) is kept once.
    When the total bound bites, segments take turns (sorted by name), so every
    segment keeps a share. The result is production's surviving examples in
    their order, then the new ones by segment: the same inputs always give the
    same prompt.
    """
    ranked = sorted(candidates, key=lambda c: (c.origin != APPROVED, c.order))
    seen: set[str] = set()
    by_segment: dict[str, list[ShotCandidate]] = defaultdict(list)
    duplicates = 0
    for candidate in ranked:
        key = normalize_question(candidate.question)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        by_segment[candidate.segment].append(candidate)
    capped = {s: by_segment[s][: max(max_per_segment, 0)] for s in sorted(by_segment)}
    chosen: list[ShotCandidate] = []
    depth = 0
    while len(chosen) < max_total and any(depth < len(c) for c in capped.values()):
        for segment in capped:
            if depth < len(capped[segment]) and len(chosen) < max_total:
                chosen.append(capped[segment][depth])
        depth += 1
    ordered = sorted(
        chosen,
        key=lambda c: (
            (0, "", c.order) if c.origin == PRODUCTION else (1, c.segment, c.order)
        ),
    )
    unique = sum(len(v) for v in by_segment.values())
    return Selection(
        examples=ordered,
        per_segment=dict(sorted(Counter(c.segment for c in ordered).items())),
        over_bound=unique - len(ordered),
        duplicates=duplicates,
    )


@dataclass(frozen=True)
class CycleFacts:
    """What the cycle knows when it decides; evaluation facts may be missing.

    `runs_succeeded is None` means champion and challenger are not evaluated
    yet. Accuracies are execution accuracy on the golden snapshot in [0, 1].
    """

    breaker_halted: bool = False
    has_golden_snapshot: bool = True
    blocking_findings: tuple[str, ...] = ()
    usable_examples: int = 0
    min_examples: int = 5
    challenger_identical: bool = False
    runs_succeeded: bool | None = None
    breaker_tripped: bool = False
    champion_accuracy: float | None = None
    challenger_accuracy: float | None = None
    regressed_segments: tuple[str, ...] = ()
    pending_request: int | None = None


@dataclass(frozen=True)
class Ruling:
    """A decision and the reason people read in the log."""

    decision: str
    reason: str


def _before_evaluation(facts: CycleFacts) -> Ruling | None:
    if facts.breaker_halted:
        return Ruling(
            DEFER, "The circuit breaker halts automatic retraining for this template."
        )
    if not facts.has_golden_snapshot:
        return Ruling(
            INVESTIGATE,
            "No golden snapshot holds this template's database: nothing to "
            "evaluate a challenger on.",
        )
    if facts.blocking_findings:
        return Ruling(
            INVESTIGATE,
            "The data needs a person before it trains anything: "
            + "; ".join(facts.blocking_findings)
            + ".",
        )
    if facts.usable_examples < facts.min_examples:
        return Ruling(
            DEFER,
            f"{facts.usable_examples} usable approved correction(s) since the "
            f"production prompt's data, fewer than the {facts.min_examples} a "
            "challenger needs; they roll into the next cycle.",
        )
    if facts.challenger_identical:
        return Ruling(
            DEFER,
            "The refreshed few-shot set equals production's: no challenger to build.",
        )
    return None


def decide(facts: CycleFacts) -> Ruling | None:
    """The cycle's decision, or None while it needs the evaluation to decide.

    Order: breaker halted (defer), no golden snapshot (investigate), blocking
    data findings (investigate), too little data (defer), nothing changed
    (defer); then, once evaluated: a failed run (investigate), the breaker
    tripping on the challenger (halt), a pending request (defer), a challenger
    strictly better overall with no segment regressed beyond the policy
    (retrain), better overall but a segment regressed (investigate), otherwise
    no improvement (defer).
    """
    early = _before_evaluation(facts)
    if early is not None or facts.runs_succeeded is None:
        return early
    if not facts.runs_succeeded:
        return Ruling(INVESTIGATE, "An evaluation run did not succeed.")
    if facts.breaker_tripped:
        return Ruling(
            HALT,
            "The challenger fell below the template's best run by more than the "
            "circuit-breaker margin.",
        )
    champion = facts.champion_accuracy or 0.0
    challenger = facts.challenger_accuracy or 0.0
    delta = f"{champion:.1%} → {challenger:.1%} execution accuracy"
    if challenger <= champion:
        return Ruling(DEFER, f"The challenger does not beat production ({delta}).")
    if facts.regressed_segments:
        return Ruling(
            INVESTIGATE,
            f"The challenger is better overall ({delta}) but regresses on "
            + ", ".join(facts.regressed_segments)
            + " beyond the policy threshold.",
        )
    if facts.pending_request is not None:
        return Ruling(
            DEFER,
            f"The challenger beats production ({delta}), but promotion request "
            f"#{facts.pending_request} is pending; decide it first.",
        )
    return Ruling(RETRAIN, f"The challenger beats production ({delta}).")


@dataclass(frozen=True)
class ChangelogFacts:
    """Inputs of a challenger's changelog."""

    cycle: int
    dataset: int
    dataset_hash: str
    window: str
    production_version: int
    selection: Selection
    added: int
    removed: int
    kept: int
    contamination: Mapping[str, int]
    invalid: int
    bounds: Mapping[str, int]
    extra: Sequence[str] = field(default_factory=tuple)


def changelog(facts: ChangelogFacts) -> str:
    """What changed in the challenger and why, for the prompt version's log."""
    segments = ", ".join(f"{k} {v}" for k, v in facts.selection.per_segment.items())
    counts: dict[str, Any] = dict(facts.contamination)
    lines = [
        f"Retraining cycle #{facts.cycle}: few-shot examples of v"
        f"{facts.production_version} refreshed from approved corrections in "
        f"dataset snapshot #{facts.dataset} ({facts.dataset_hash[:12]}, "
        f"{facts.window}).",
        f"Added {facts.added}, removed {facts.removed}, kept {facts.kept}; "
        f"{len(facts.selection.examples)} examples by segment: {segments or 'none'} "
        f"(bounds: {facts.bounds['max_per_segment']} per segment, "
        f"{facts.bounds['max_total']} in all; {facts.selection.over_bound} left "
        f"out by the bounds, {facts.selection.duplicates} repeated questions).",
        f"Excluded as contaminated by the evaluation snapshot: "
        f"{counts.get('excluded', 0)} (provenance {counts.get('provenance', 0)}, "
        f"same normalized question {counts.get('normalized_question', 0)}, "
        f"near-duplicate {counts.get('near_duplicate', 0)}); invalid rows "
        f"{facts.invalid}. Kept examples sharing a golden SQL under another "
        f"question: {counts.get('shared_sql', 0)}.",
        "Why: production answered these questions wrong and senior analysts "
        "approved the corrections; the cycle's evaluation tests whether they help.",
        *facts.extra,
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class FineTuningThresholds:
    """When error classes justify a fine-tuning export (per template policy)."""

    min_corrections: int = 200
    min_class_volume: int = 50
    max_drift: float = 0.3


def fine_tuning_advice(
    trend: Mapping[str, Any], thresholds: FineTuningThresholds
) -> dict[str, Any]:
    """Fine-tuning export or prompt refresh, from the error-class trend.

    A fine-tuning export is justified only when the window holds enough
    classified corrections, at least one error class is stable (present in
    every period with a steady share) and high-volume, the class mix has not
    drifted beyond the threshold and one classifier version made every class;
    otherwise the few-shot refresh is the right tool. `statement` is what the
    decision log says.
    """
    reasons = []
    total = trend.get("corrections", 0)
    if total < thresholds.min_corrections:
        reasons.append(
            f"{total} classified corrections in the window, fewer than "
            f"{thresholds.min_corrections}"
        )
    stable = sorted(
        name
        for name, row in trend.get("classes", {}).items()
        if row["stable"] and row["volume"] >= thresholds.min_class_volume
    )
    if not stable:
        reasons.append(
            "no error class is both stable over every period and at least "
            f"{thresholds.min_class_volume} corrections"
        )
    drift = trend.get("drift")
    if drift is None:
        reasons.append("fewer than two periods with corrections: no stability yet")
    elif drift > thresholds.max_drift:
        reasons.append(f"the class mix drifted {drift:.2f} > {thresholds.max_drift}")
    if len(trend.get("classifier_versions", {})) > 1:
        reasons.append("the classifier's rules changed within the window")
    export = not reasons
    statement = (
        f"Error classes {', '.join(stable)} are stable and high-volume ({total} "
        f"corrections, drift {drift}): exporting a fine-tuning dataset is justified."
        if export
        else "Prompt refresh rather than a fine-tuning export: "
        + "; ".join(reasons)
        + "."
    )
    return {
        "recommendation": "fine_tuning_export" if export else "prompt_refresh",
        "stable_high_volume": stable,
        "reasons": reasons,
        "statement": statement,
    }
