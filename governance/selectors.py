"""Governance reads: the one place that shapes querysets for callers."""

from django.db.models import Prefetch, QuerySet

from governance.decisions import list_decision_log
from governance.models import (
    Approval,
    CircuitBreaker,
    DecisionLogEntry,
    PromotionRequest,
    ReleaseNote,
    TriggerEvent,
)

__all__ = [
    "list_circuit_breakers",
    "list_decision_log",
    "list_promotion_requests",
    "list_release_notes",
    "list_trigger_events",
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
