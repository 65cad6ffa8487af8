"""Retraining triggers: checks that fire on evidence, each opening a decision.

A trigger fires at most once per condition (`dedup_key`), so the periodic check
can run as often as the beat schedule says without repeating decisions.
"""

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.models import EvaluationRun, GoldenExample
from evaluation.runs.selectors import list_runs
from feedback.selectors import feedback_topic_counts, negative_feedback_windows
from governance import breaker, decisions, gates
from governance.diversity import check_output_diversity
from governance.drift import check_input_drift
from governance.exceptions import GovernanceError
from governance.holdout_drift import check_holdout_drift
from governance.models import DecisionLogEntry, PromotionRequest, TriggerEvent
from governance.violations import check_safety_violations
from registry.models import Label, PromptTemplate

Kind = TriggerEvent.Kind
DEFAULT_DECISION = {
    Kind.METRIC_DEGRADATION: DecisionLogEntry.Decision.RETRAIN,
    Kind.FEEDBACK_SPIKE: DecisionLogEntry.Decision.INVESTIGATE,
    Kind.DATA_VOLUME: DecisionLogEntry.Decision.RETRAIN,
    Kind.CALENDAR: DecisionLogEntry.Decision.RETRAIN,
    Kind.EVENT: DecisionLogEntry.Decision.INVESTIGATE,
    Kind.INPUT_DRIFT: DecisionLogEntry.Decision.INVESTIGATE,
    Kind.SAFETY_VIOLATION: DecisionLogEntry.Decision.INVESTIGATE,
    Kind.OUTPUT_DIVERSITY: DecisionLogEntry.Decision.INVESTIGATE,
    Kind.HOLDOUT_DRIFT: DecisionLogEntry.Decision.INVESTIGATE,
}
# What the decision's rationale says beyond the trigger's name.
CHECK_REASONS = {
    Kind.INPUT_DRIFT: "The question mix shifted from its baseline (PSI).",
    Kind.SAFETY_VIOLATION: "Immediate review: safety violations above the "
    "accepted rate.",
    Kind.OUTPUT_DIVERSITY: "Distinct SQL shapes of a segment collapsed.",
    Kind.HOLDOUT_DRIFT: "Production's online figures differ significantly from "
    "the frozen holdout baseline's (weekly report).",
}
Finding = tuple[str, dict[str, Any]] | None


@dataclass(frozen=True)
class Spike:
    fired: bool
    latest: float
    mean: float
    sd: float
    threshold: float
    history_windows: int


def detect_spike(rates: Sequence[float], *, sigma: float = 2.0) -> Spike:
    """Is the last rate more than `sigma` sample sd above the mean of the others?

    `rates` are per-window negative rates, oldest first. Fewer than two history
    windows never fire: a deviation needs a spread to be measured against.
    """
    history, latest = list(rates[:-1]), rates[-1] if rates else 0.0
    if len(history) < 2:
        return Spike(False, latest, 0.0, 0.0, 0.0, len(history))
    mean, sd = statistics.fmean(history), statistics.stdev(history)
    threshold = mean + sigma * sd
    return Spike(latest > threshold, latest, mean, sd, threshold, len(history))


def check_feedback_spike(template: PromptTemplate, now: datetime) -> Finding:
    policy = gates.policy_for(template)
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = negative_feedback_windows(
        template=template,
        end=end,
        window_days=policy.feedback_window_days,
        windows=policy.feedback_history_windows + 1,
    )
    if not rows or rows[-1]["total"] < policy.feedback_min_interactions:
        return None
    usable = [r for r in rows[:-1] if r["total"] >= policy.feedback_min_interactions]
    rates = [r["negative"] / r["total"] for r in [*usable, rows[-1]]]
    spike = detect_spike(rates, sigma=policy.feedback_sigma)
    if not spike.fired:
        return None
    latest = feedback_topic_counts(
        template=template,
        start=datetime.fromisoformat(rows[-1]["start"]),
        end=datetime.fromisoformat(rows[-1]["end"]),
    )
    return f"until:{end.date()}", {
        **asdict(spike),
        "windows": rows,
        # What the latest window's explicit feedback was about; only wrong
        # answers (and uncategorized negatives) made the rate.
        "latest_by_category": {
            topic: counts["total"] for topic, counts in latest["by_topic"].items()
        },
    }


def _baseline_run(template: PromptTemplate, label: Label) -> EvaluationRun | None:
    promoted = (
        PromotionRequest.objects.filter(
            template=template,
            label_name=label.name,
            status=PromotionRequest.Status.PROMOTED,
            prompt_version_id=label.prompt_version_id,
            model_version_id=label.model_version_id,
        )
        .exclude(candidate_run=None)
        .select_related("candidate_run")
        .order_by("-closed_at")
        .first()
    )
    if promoted is not None:
        return promoted.candidate_run
    return (
        list_runs()
        .filter(status=EvaluationRun.Status.SUCCEEDED)
        .filter(
            prompt_version_id=label.prompt_version_id,
            model_version_id=label.model_version_id,
        )
        # A safety suite's run scores no accuracy: never a baseline.
        .exclude(snapshot__items__golden_example__kind=GoldenExample.Kind.SAFETY)
        .order_by("created_at", "id")
        .first()
    )


def check_metric_degradation(template: PromptTemplate, now: datetime) -> Finding:
    label = Label.objects.filter(template=template, name=Label.Name.PRODUCTION).first()
    if label is None:
        return None
    current = gates.champion_run(
        template=template,
        label_name=label.name,
        snapshot=gates.current_snapshot(template),
    )
    baseline = _baseline_run(template, label)
    if current is None or baseline is None or current.pk == baseline.pk:
        return None
    metric = gates.PRIMARY_METRIC
    now_value = current.summary.get("overall", {}).get(metric)
    base_value = baseline.summary.get("overall", {}).get(metric)
    threshold = gates.policy_for(template).degradation_threshold
    if now_value is None or base_value is None or base_value - now_value <= threshold:
        return None
    return f"run:{current.pk}", {
        "metric": metric,
        "current_run": current.pk,
        "current": now_value,
        "baseline_run": baseline.pk,
        "baseline": base_value,
        "drop": base_value - now_value,
        "threshold": threshold,
    }


def _last_retraining(template: PromptTemplate) -> datetime:
    last = (
        DecisionLogEntry.objects.filter(
            template=template, decision=DecisionLogEntry.Decision.RETRAIN
        )
        .order_by("-sequence")
        .first()
    )
    return last.decided_at if last else template.created_at


def check_data_volume(template: PromptTemplate, now: datetime) -> Finding:
    since = _last_retraining(template)
    count = GoldenExample.objects.filter(
        target_database_id=template.target_database_id,
        retired_at=None,
        created_at__gt=since,
        source__in=[GoldenExample.Source.REVIEW, GoldenExample.Source.MANUAL],
    ).count()
    threshold = gates.policy_for(template).data_volume_threshold
    if count < threshold:
        return None
    return f"since:{since.isoformat()}", {
        "new_examples": count,
        "threshold": threshold,
        "since": since.isoformat(),
    }


def check_calendar(template: PromptTemplate, now: datetime) -> Finding:
    cadence = gates.policy_for(template).calendar_cadence_days
    if cadence == 0:
        return None
    last = (
        TriggerEvent.objects.filter(template=template, kind=Kind.CALENDAR)
        .order_by("-fired_at")
        .first()
    )
    since = last.fired_at if last else template.created_at
    if now - since < timedelta(days=cadence):
        return None
    return f"after:{since.isoformat()}", {
        "cadence_days": cadence,
        "last": since.isoformat(),
    }


CHECKS = {
    Kind.METRIC_DEGRADATION: check_metric_degradation,
    Kind.FEEDBACK_SPIKE: check_feedback_spike,
    Kind.DATA_VOLUME: check_data_volume,
    Kind.CALENDAR: check_calendar,
    Kind.INPUT_DRIFT: check_input_drift,
    Kind.SAFETY_VIOLATION: check_safety_violations,
    Kind.OUTPUT_DIVERSITY: check_output_diversity,
    Kind.HOLDOUT_DRIFT: check_holdout_drift,
}


@transaction.atomic
def fire_trigger(
    *,
    template: PromptTemplate,
    kind: str,
    dedup_key: str,
    evidence: dict[str, Any],
    now: datetime,
    raised_by: User | None = None,
    reason: str = "",
    decision: str | None = None,
) -> TriggerEvent | None:
    """Store a fired trigger and open its decision; None if it already fired.

    While the template's circuit breaker is halted, a `retrain` becomes `defer`.
    Records `governance.trigger.fired`.
    """
    try:
        with transaction.atomic():
            event = TriggerEvent.objects.create(
                template=template,
                kind=kind,
                fired_at=now,
                evidence=evidence,
                dedup_key=dedup_key,
                raised_by=raised_by,
                reason=reason,
            )
    except IntegrityError:
        return None
    verdict = decision or DEFAULT_DECISION[Kind(kind)]
    rationale = f"{event.get_kind_display()} trigger fired. {reason}".strip()
    if verdict == DecisionLogEntry.Decision.RETRAIN and breaker.is_halted(template):
        verdict = DecisionLogEntry.Decision.DEFER
        rationale += " Deferred: the circuit breaker halts automatic retraining."
    decisions.open_decision(
        template=template,
        decision=verdict,
        rationale=rationale,
        acting_user=raised_by,
        trigger=event,
    )
    record_event(
        event_type="governance.trigger.fired",
        actor=raised_by,
        subject=event,
        reason=reason,
        data={"kind": kind, "dedup_key": dedup_key, "decision": verdict},
    )
    return event


def check_triggers(
    *, template: PromptTemplate | None = None, now: datetime | None = None
) -> list[TriggerEvent]:
    """Run every automatic check for one template or all; return what fired.

    Called by the beat task, `manage.py check_triggers` and the API. Idempotent
    for unchanged evidence.
    """
    now = now or timezone.now()
    templates = [template] if template else list(PromptTemplate.objects.all())
    fired = []
    for each in templates:
        for kind, check in CHECKS.items():
            finding = check(each, now)
            if finding is None:
                continue
            key, evidence = finding
            event = fire_trigger(
                template=each,
                kind=kind,
                dedup_key=key,
                evidence=evidence,
                now=now,
                reason=CHECK_REASONS.get(kind, ""),
            )
            if event is not None:
                fired.append(event)
    return fired


def raise_event_trigger(
    *,
    template: PromptTemplate,
    reason: str,
    acting_user: User,
    category: str = "other",
    decision: str = DecisionLogEntry.Decision.INVESTIGATE,
) -> TriggerEvent:
    """A person raises a trigger (product change, regulation, incident...)."""
    if not reason.strip():
        raise GovernanceError("An event trigger needs a reason.", field="reason")
    if decision not in DecisionLogEntry.Decision.values:
        raise GovernanceError(f"Unknown decision {decision!r}.", field="decision")
    now = timezone.now()
    event = fire_trigger(
        template=template,
        kind=Kind.EVENT,
        dedup_key=f"event:{now.isoformat()}:{acting_user.pk}",
        evidence={"category": category},
        now=now,
        raised_by=acting_user,
        reason=reason.strip(),
        decision=decision,
    )
    assert event is not None  # noqa: S101 (the key is unique per call)
    return event
