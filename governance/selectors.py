"""Governance reads: the one place that shapes querysets for callers."""

from django.db.models import Prefetch, QuerySet

from governance.chain import Verification, verify_chain
from governance.decisions import list_decision_log
from governance.models import (
    Approval,
    CircuitBreaker,
    DecisionLogEntry,
    PromotionRequest,
    ReleaseNote,
    Rollout,
    RolloutStage,
    TriggerEvent,
)

__all__ = [
    "decision_log_status",
    "list_circuit_breakers",
    "list_decision_log",
    "list_promotion_requests",
    "list_release_notes",
    "list_rollouts",
    "list_trigger_events",
    "pending_promotion_requests",
    "recent_decisions",
]


def list_promotion_requests() -> QuerySet[PromotionRequest]:
    """Requests with their decision and approvals, in a constant number of queries."""
    return PromotionRequest.objects.select_related(
        "template", "requested_by", "decision"
    ).prefetch_related(
        Prefetch(
            "approvals",
            queryset=Approval.objects.select_related("approver", "request"),
        )
    )


def pending_promotion_requests() -> QuerySet[PromotionRequest]:
    """Requests still waiting for a decision, oldest first, with their candidate
    prompt version (whose author may not approve) joined."""
    return (
        list_promotion_requests()
        .filter(status=PromotionRequest.Status.PENDING)
        .select_related("prompt_version", "model_version")
        .order_by("created_at", "id")
    )


def recent_decisions(*, limit: int = 10) -> list[DecisionLogEntry]:
    """The newest decision-log entries (decisions and outcomes), newest first."""
    return list(list_decision_log().order_by("-sequence")[:limit])


def decision_log_status() -> Verification:
    """The decision log's verification now: the whole chain is re-hashed, so
    call it for the people who audit it, not on every page."""
    return verify_chain()


def list_trigger_events() -> QuerySet[TriggerEvent]:
    """Fired triggers with the decisions they opened."""
    return TriggerEvent.objects.select_related(
        "template", "raised_by"
    ).prefetch_related(
        Prefetch(
            "decisions",
            queryset=DecisionLogEntry.objects.only("id", "sequence", "trigger_id"),
        )
    )


def list_release_notes() -> QuerySet[ReleaseNote]:
    """Release notes with their decision joined."""
    return ReleaseNote.objects.select_related("decision", "request")


def list_circuit_breakers() -> QuerySet[CircuitBreaker]:
    """Every template's breaker state."""
    return CircuitBreaker.objects.select_related(
        "template", "reset_by", "halt_decision"
    )


def list_rollouts() -> QuerySet[Rollout]:
    """Rollouts, newest first, with their pairs and stage records joined."""
    return Rollout.objects.select_related(
        "template",
        "request",
        "prompt_version",
        "model_version",
        "baseline_prompt_version",
        "baseline_model_version",
        "signed_off_by",
    ).prefetch_related(
        Prefetch("stages", queryset=RolloutStage.objects.select_related("actor"))
    )
