"""The circuit breaker: halts automatic retraining after a collapsed candidate."""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.models import EvaluationRun
from evaluation.runs.selectors import list_runs
from governance import approvals, decisions, gates
from governance.exceptions import GovernanceError, NotPermittedError
from governance.models import CircuitBreaker, DecisionLogEntry
from registry.models import PromptTemplate


def is_halted(template: PromptTemplate) -> bool:
    """True while the template's breaker is open (automatic retraining halted)."""
    return CircuitBreaker.objects.filter(template=template, halted=True).exists()


def historical_best(
    template: PromptTemplate, *, excluding: EvaluationRun | None = None
) -> EvaluationRun | None:
    """The template's succeeded run with the highest primary metric."""
    runs = (
        list_runs()
        .filter(status=EvaluationRun.Status.SUCCEEDED)
        .filter(prompt_version__template=template)
    )
    if excluding is not None:
        runs = runs.exclude(pk=excluding.pk)
    scored = [
        (run.summary.get("overall", {}).get(gates.PRIMARY_METRIC), run) for run in runs
    ]
    scored = [(value, run) for value, run in scored if value is not None]
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


@transaction.atomic
def check_circuit_breaker(
    *, template: PromptTemplate, candidate_run: EvaluationRun
) -> CircuitBreaker:
    """Trip the breaker when the candidate falls more than the margin below best.

    Idempotent: an already halted breaker is returned unchanged. Tripping logs
    a `halt` decision with the numbers and `governance.circuit_breaker.tripped`.
    """
    breaker, _ = CircuitBreaker.objects.get_or_create(template=template)
    breaker = CircuitBreaker.objects.select_for_update().get(pk=breaker.pk)
    if breaker.halted:
        return breaker
    best = historical_best(template, excluding=candidate_run)
    value = candidate_run.summary.get("overall", {}).get(gates.PRIMARY_METRIC)
    if best is None or value is None:
        return breaker
    best_value = best.summary["overall"][gates.PRIMARY_METRIC]
    margin = gates.policy_for(template).circuit_breaker_margin
    if best_value - value <= margin:
        return breaker
    entry = decisions.open_decision(
        template=template,
        decision=DecisionLogEntry.Decision.HALT,
        rationale=(
            f"Circuit breaker: candidate run {candidate_run.pk} scored "
            f"{value:.4f} {gates.PRIMARY_METRIC}, more than {margin:.4f} below the "
            f"best run {best.pk} ({best_value:.4f}). Automatic retraining halted."
        ),
        acting_user=None,
        prompt_version=candidate_run.prompt_version,
        model_version=candidate_run.model_version,
        evaluation_summary={
            "candidate_run": candidate_run.pk,
            "best_run": best.pk,
            "candidate": value,
            "best": best_value,
            "margin": margin,
        },
    )
    breaker.halted, breaker.halted_at, breaker.halt_decision = (
        True,
        timezone.now(),
        entry,
    )
    breaker.save(update_fields=["halted", "halted_at", "halt_decision"])
    record_event(
        event_type="governance.circuit_breaker.tripped",
        actor=None,
        subject=breaker,
        reason=entry.rationale,
        data={"decision": entry.sequence, "candidate_run": candidate_run.pk},
    )
    return breaker


@transaction.atomic
def reset_circuit_breaker(
    *, template: PromptTemplate, acting_user: User, reason: str
) -> CircuitBreaker:
    """Close a halted breaker: an ML lead with a reason; logs a `resume` decision."""
    if "ml_lead" not in approvals.roles_of(acting_user) or not acting_user.has_perm(
        "governance.reset_circuitbreaker"
    ):
        raise NotPermittedError("Only an ML lead may reset the circuit breaker.")
    if not reason.strip():
        raise GovernanceError("A reset needs a reason.", field="reason")
    breaker = (
        CircuitBreaker.objects.select_for_update().filter(template=template).first()
    )
    if breaker is None or not breaker.halted:
        raise GovernanceError(f"The breaker of {template.name} is not halted.")
    entry = decisions.open_decision(
        template=template,
        decision=DecisionLogEntry.Decision.RESUME,
        rationale=f"Circuit breaker reset: {reason.strip()}",
        acting_user=acting_user,
    )
    breaker.halted = False
    breaker.reset_at, breaker.reset_by = timezone.now(), acting_user
    breaker.reset_reason = reason.strip()
    breaker.save(update_fields=["halted", "reset_at", "reset_by", "reset_reason"])
    record_event(
        event_type="governance.circuit_breaker.reset",
        actor=acting_user,
        subject=breaker,
        reason=reason,
        data={"decision": entry.sequence},
    )
    return breaker
