"""The retraining cycle's decision: compare, check the breaker, decide, settle.

A cycle logs exactly one decision: `settle` takes a row lock on the cycle and
reuses a decision already stored, so concurrent or repeated runs never log a
second one for the same dataset snapshot.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any

from django.db import transaction

from evaluation.models import EvaluationRun
from evaluation.runs.comparison import compare_runs, segment_regressions
from feedback.error_classes import error_class_trend
from feedback.models import ReviewItem
from governance import breaker, decisions, gates
from governance.cycle.models import RetrainingCycle
from governance.cycle.progress import (
    CycleOptions,
    CycleOutcome,
    StepRecorder,
    complete,
)
from governance.cycle.request import open_request
from governance.cycle.rules import (
    RETRAIN,
    CycleFacts,
    FineTuningThresholds,
    Ruling,
    decide,
    fine_tuning_advice,
)
from governance.cycle.shadow import start_shadow
from governance.models import DecisionLogEntry, PromotionRequest
from registry.models import Label

Status = RetrainingCycle.Status
SHOWN_ITEMS = 10
METRIC = "execution_accuracy"


def _trim(comparison: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: v for k, v in comparison.items() if k not in ("fixed", "broken")}
    for key in ("fixed", "broken"):
        trimmed[f"{key}_count"] = len(comparison[key])
        trimmed[key] = comparison[key][:SHOWN_ITEMS]
    return trimmed


def error_class_evidence(cycle: RetrainingCycle) -> dict[str, Any]:
    """The dataset's corrections by error class, the template's trend over the
    policy's periods, and whether it justifies a fine-tuning export."""
    dataset = cycle.dataset
    assert dataset is not None  # noqa: S101 (a cycle always has its dataset)
    ids = dataset.manifest.get("ids", {}).get("review_items", [])
    in_dataset: Counter[str] = Counter()
    for taxonomy in ReviewItem.objects.filter(pk__in=ids).values_list(
        "error_taxonomy", flat=True
    ):
        in_dataset.update(taxonomy.get("classes", []))
    trend = error_class_trend(template=cycle.template, end=dataset.window_end)
    policy = gates.policy_for(cycle.template)
    advice = fine_tuning_advice(
        trend,
        FineTuningThresholds(
            min_corrections=policy.finetune_min_corrections,
            min_class_volume=policy.finetune_min_class_volume,
            max_drift=policy.finetune_max_drift,
        ),
    )
    return {
        "dataset": dict(in_dataset.most_common()),
        "trend": {
            "window": trend["window"],
            "period_days": trend["period_days"],
            "corrections_per_period": [p["corrections"] for p in trend["periods"]],
            "classifier_versions": trend["classifier_versions"],
            "drift": trend["drift"],
            "classes": {
                name: {k: row[k] for k in ("volume", "shares", "stable")}
                for name, row in trend["classes"].items()
            },
        },
        "advice": advice,
    }


def evidence(
    cycle: RetrainingCycle, comparison: dict[str, Any] | None
) -> dict[str, Any]:
    """What the decision log stores as the decision's evaluation summary."""
    dataset = cycle.dataset
    assert dataset is not None  # noqa: S101 (a cycle always has its dataset)
    validation = cycle.validation
    data: dict[str, Any] = {
        "cycle": cycle.pk,
        "dataset": {
            "id": dataset.pk,
            "hash": dataset.content_hash,
            "rows": len(dataset.rows),
            "usable": validation.get("volume", {}).get("total"),
            "window": dataset.manifest.get("window"),
        },
        "golden_snapshot": cycle.golden_snapshot_id,
        "contamination": validation.get("contamination", {}).get("approved", {}),
        "blocking": validation.get("blocking", []),
        "error_classes": error_class_evidence(cycle),
    }
    if comparison is not None:
        data.update(
            {
                "champion_run": cycle.champion_run_id,
                "challenger_run": cycle.challenger_run_id,
                "overall": comparison["overall"][METRIC],
                "segments": {
                    name: {**deltas[METRIC], "n": deltas["n"]["challenger"]}
                    for name, deltas in comparison["segments"].items()
                },
                "seen_split": comparison["seen_split"],
                "mcnemar": comparison["mcnemar"],
                "fixed": len(comparison["fixed"]),
                "broken": len(comparison["broken"]),
            }
        )
    return data


@transaction.atomic
def settle(
    cycle: RetrainingCycle,
    ruling: Ruling,
    data: dict[str, Any],
    options: CycleOptions,
    outcome: CycleOutcome,
    *,
    entry: DecisionLogEntry | None = None,
) -> None:
    """Log the decision once, then shadow, request the promotion or finish.

    `entry` is a decision already logged for this cycle (the circuit breaker's
    halt). Records through `decisions.open_decision`, `move_label` and
    `promotions.request_promotion`, all in this transaction.
    """
    locked = RetrainingCycle.objects.select_for_update().get(pk=cycle.pk)
    if (decision := locked.decision) is not None:
        cycle.decision = decision
        outcome.reused.append(f"decision #{decision.sequence}")
        return
    assert cycle.dataset is not None  # noqa: S101
    has_challenger = cycle.challenger_prompt is not None
    cycle.decision = entry or decisions.open_decision(
        template=cycle.template,
        decision=ruling.decision,
        rationale=f"Retraining cycle #{cycle.pk}: {ruling.reason} "
        + data.get("error_classes", {}).get("advice", {}).get("statement", ""),
        acting_user=cycle.requested_by,
        data_snapshot_ref=f"dataset-snapshot:{cycle.dataset.pk}",
        data_snapshot_hash=cycle.dataset.content_hash,
        prompt_version=cycle.challenger_prompt,
        model_version=cycle.challenger_model if has_challenger else None,
        evaluation_summary=data,
    )
    cycle.save(update_fields=["decision"])
    if ruling.decision != RETRAIN:
        complete(cycle)
    elif options.shadow_share:
        start_shadow(cycle, Decimal(options.shadow_share))
        outcome.waiting = "shadow traffic on the challenger label"
    else:
        open_request(cycle)
        complete(cycle)


def decide_after_evaluation(
    cycle: RetrainingCycle,
    facts: CycleFacts,
    options: CycleOptions,
    outcome: CycleOutcome,
    recorder: StepRecorder,
) -> None:
    """Compare the runs, check the breaker, then decide and settle."""
    started = recorder.begin("decide")
    champion, challenger = cycle.champion_run, cycle.challenger_run
    assert champion is not None and challenger is not None  # noqa: S101
    succeeded = EvaluationRun.Status.SUCCEEDED
    ok = champion.status == succeeded and challenger.status == succeeded
    comparison, regressed, halt = None, [], None
    if ok:
        comparison = compare_runs(champion=champion, challenger=challenger).as_dict()
        cycle.comparison = _trim(comparison)
        cycle.save(update_fields=["comparison"])
        points = gates.policy_for(cycle.template).regression_threshold * 100
        regressed = [
            name
            for name, _ in segment_regressions(
                champion.summary, challenger.summary, threshold_points=points
            )
        ]
        circuit = breaker.check_circuit_breaker(
            template=cycle.template, candidate_run=challenger
        )
        tripped = circuit.halt_decision
        # Only a halt this challenger caused decides this cycle.
        if (
            circuit.halted
            and tripped is not None
            and tripped.evaluation_summary.get("candidate_run") == challenger.pk
        ):
            halt = tripped
    pending = (
        PromotionRequest.objects.filter(
            template=cycle.template,
            label_name=Label.Name.PRODUCTION,
            status=PromotionRequest.Status.PENDING,
        )
        .values_list("pk", flat=True)
        .first()
    )
    overall = (comparison or {}).get("overall", {}).get(METRIC, {})
    ruling = decide(
        replace(
            facts,
            runs_succeeded=ok,
            breaker_tripped=halt is not None,
            champion_accuracy=overall.get("champion"),
            challenger_accuracy=overall.get("challenger"),
            regressed_segments=tuple(regressed),
            pending_request=pending,
        )
    )
    assert ruling is not None  # noqa: S101 (evaluated facts always decide)
    settle(cycle, ruling, evidence(cycle, comparison), options, outcome, entry=halt)
    request = cycle.promotion_request
    recorder.end(
        started,
        numbers={
            "decision": ruling.decision,
            "sequence": cycle.decision.sequence if cycle.decision else None,
            "promotion_request": request.pk if request else None,
            "shadow_share": options.shadow_share or None,
        },
        detail=ruling.reason,
    )
