"""The retraining cycle's decision, shadow serving and promotion request.

A cycle logs exactly one decision: `settle` takes a row lock on the cycle and
reuses a decision already stored, so concurrent or repeated runs never log a
second one for the same dataset snapshot.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from evaluation.models import EvaluationRun
from evaluation.runs.comparison import (
    compare_runs,
    segment_regressions,
)
from governance import breaker, decisions, gates, online, promotions
from governance.cycle_models import RetrainingCycle
from governance.cycle_rules import RETRAIN, CycleFacts, Ruling, decide
from governance.models import DecisionLogEntry, PromotionRequest
from registry.models import Label
from registry.services import move_label

if TYPE_CHECKING:
    from governance.cycle import CycleOptions, CycleOutcome, StepRecorder

Status = RetrainingCycle.Status
SHOWN_ITEMS = 10
METRIC = "execution_accuracy"


def complete(cycle: RetrainingCycle) -> None:
    """Mark the cycle finished."""
    cycle.status, cycle.finished_at = Status.COMPLETED, timezone.now()
    cycle.save(update_fields=["status", "finished_at"])


def _trim(comparison: dict[str, Any]) -> dict[str, Any]:
    trimmed = {k: v for k, v in comparison.items() if k not in ("fixed", "broken")}
    for key in ("fixed", "broken"):
        trimmed[f"{key}_count"] = len(comparison[key])
        trimmed[key] = comparison[key][:SHOWN_ITEMS]
    return trimmed


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


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "n/a"


def request_rationale(cycle: RetrainingCycle, extra: str = "") -> str:
    """Why the cycle asks for a promotion: the numbers a reviewer checks first."""
    dataset, overall = cycle.dataset, cycle.comparison.get("overall", {})
    assert dataset is not None and cycle.challenger_prompt is not None  # noqa: S101
    accuracy = overall.get(METRIC, {})
    test = cycle.comparison.get("mcnemar", {})
    seen = cycle.comparison.get("seen_split", {}).get("challenger", {})
    champion_number = cycle.champion_prompt.number if cycle.champion_prompt else "?"
    text = (
        f"Retraining cycle #{cycle.pk}, dataset snapshot #{dataset.pk} "
        f"({dataset.content_hash[:12]}): challenger v{cycle.challenger_prompt.number} "
        f"scores {_percent(accuracy.get('challenger'))} execution accuracy vs "
        f"production v{champion_number} {_percent(accuracy.get('champion'))} on "
        f"golden snapshot #{cycle.golden_snapshot_id} (McNemar p="
        f"{test.get('p_value', 1.0):.3g}; golden items whose SQL the challenger "
        f"has seen: {_percent(seen.get('seen', {}).get(METRIC))} of "
        f"{seen.get('seen', {}).get('n', 0)}, unseen: "
        f"{_percent(seen.get('unseen', {}).get(METRIC))} of "
        f"{seen.get('unseen', {}).get('n', 0)})."
    )
    return f"{text} {extra}".strip()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _start_shadow(cycle: RetrainingCycle, share: Decimal) -> None:
    assert cycle.challenger_prompt and cycle.challenger_model  # noqa: S101
    sequence = cycle.decision.sequence if cycle.decision else "?"
    move_label(
        template=cycle.template,
        name=Label.Name.CHALLENGER,
        prompt_version=cycle.challenger_prompt,
        model_version=cycle.challenger_model,
        reason=f"Retraining cycle #{cycle.pk}: serve the challenger to {share:.0%} "
        f"of sessions before promotion (decision #{sequence}).",
        acting_user=cycle.requested_by,
        traffic_share=share,
    )
    cycle.status = Status.SHADOWING
    cycle.online_comparison = {"since": _iso(timezone.now())}
    cycle.save(update_fields=["status", "online_comparison"])


def _open_request(cycle: RetrainingCycle, extra: str = "") -> PromotionRequest:
    assert cycle.challenger_prompt and cycle.challenger_model  # noqa: S101
    assert cycle.challenger_run is not None  # noqa: S101
    request = promotions.request_promotion(
        template=cycle.template,
        prompt_version=cycle.challenger_prompt,
        model_version=cycle.challenger_model,
        candidate_run=cycle.challenger_run,
        rationale=request_rationale(cycle, extra),
        requested_by=cycle.requested_by,
        decision=cycle.decision,
    )
    cycle.promotion_request = request
    cycle.save(update_fields=["promotion_request"])
    return request


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
        rationale=f"Retraining cycle #{cycle.pk}: {ruling.reason}",
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
        _start_shadow(cycle, Decimal(options.shadow_share))
        outcome.waiting = "shadow traffic on the challenger label"
    else:
        _open_request(cycle)
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


def finish_shadow(
    cycle: RetrainingCycle,
    options: CycleOptions,
    outcome: CycleOutcome,
    recorder: StepRecorder,
) -> None:
    """Compare the shadowed challenger with production online; once it served
    `min_shadow_interactions` sessions, open the promotion request with the
    comparison in its rationale (what approvers sign) and finish."""
    started = recorder.begin("shadow")
    assert cycle.challenger_prompt and cycle.challenger_model  # noqa: S101
    assert cycle.champion_prompt and cycle.champion_model  # noqa: S101
    since = datetime.fromisoformat(cycle.online_comparison["since"])
    comparison = online.compare_online(
        template=cycle.template,
        champion=(cycle.champion_prompt.pk, cycle.champion_model.pk),
        challenger=(cycle.challenger_prompt.pk, cycle.challenger_model.pk),
        since=since,
    )
    cycle.online_comparison = comparison
    cycle.save(update_fields=["online_comparison"])
    served = comparison["challenger"]["interactions"]
    numbers = {
        "challenger_interactions": served,
        "champion_interactions": comparison["champion"]["interactions"],
        "needed": options.min_shadow_interactions,
        **comparison["delta"],
    }
    if served < options.min_shadow_interactions:
        recorder.end(started, status="waiting", numbers=numbers)
        outcome.waiting = (
            f"shadow traffic: {served} of {options.min_shadow_interactions} "
            "challenger interactions"
        )
        return
    recorder.end(started, numbers=numbers, detail=online.describe(comparison))
    started = recorder.begin("request")
    with transaction.atomic():
        request = _open_request(cycle, online.describe(comparison))
        complete(cycle)
    recorder.end(
        started, numbers={"promotion_request": request.pk, "status": request.status}
    )
