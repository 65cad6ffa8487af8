"""Shadow serving: the challenger label serves a share of sessions before the
promotion request, and the online comparison goes into that request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from governance import online
from governance.cycle.models import RetrainingCycle
from governance.cycle.progress import (
    CycleOptions,
    CycleOutcome,
    StepRecorder,
    complete,
)
from governance.cycle.request import open_request
from registry.models import Label, PromptTemplate
from registry.services import move_label

Status = RetrainingCycle.Status


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def start_shadow(cycle: RetrainingCycle, share: Decimal) -> None:
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
        request = open_request(cycle, online.describe(comparison))
        complete(cycle)
    recorder.end(
        started, numbers={"promotion_request": request.pk, "status": request.status}
    )


def end_shadow(*, template: PromptTemplate, acting_user: User | None) -> Label | None:
    """Stop routing sessions to the challenger label (after its promotion or
    when giving up on it). A recorded label move; a no-op at share 0."""
    label = Label.objects.filter(template=template, name=Label.Name.CHALLENGER).first()
    if label is None or label.traffic_share == 0:
        return label
    return move_label(
        template=template,
        name=Label.Name.CHALLENGER,
        prompt_version=label.prompt_version,
        model_version=label.model_version,
        reason="Shadow serving ended.",
        acting_user=acting_user,
        traffic_share=Decimal(0),
    )
