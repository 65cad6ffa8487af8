"""Governance reads: the one place that shapes querysets for callers."""

from django.db.models import Prefetch, QuerySet

from governance.cycle_models import DatasetSnapshot, RetrainingCycle
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
    "list_dataset_snapshots",
    "list_decision_log",
    "list_promotion_requests",
    "list_release_notes",
    "list_retraining_cycles",
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


def list_retraining_cycles() -> QuerySet[RetrainingCycle]:
    """Cycles, newest first, with what the API shows joined (constant queries).

    The dataset's rows and manifest are deferred: a cycle shows only the
    snapshot's id and hash, and the rows can be large.
    """
    return RetrainingCycle.objects.select_related(
        "template", "requested_by", "dataset", "decision"
    ).defer("dataset__rows", "dataset__manifest")


def list_dataset_snapshots(*, with_manifest: bool = False) -> QuerySet[DatasetSnapshot]:
    """Dataset snapshots, newest first, with the cycles that used them.

    The rows (the training data itself) are never loaded; the manifest only
    when `with_manifest` (detail reads), since lists do not show it.
    """
    deferred = ["rows"] if with_manifest else ["rows", "manifest"]
    return (
        DatasetSnapshot.objects.select_related("template", "created_by")
        .defer(*deferred)
        .prefetch_related(
            Prefetch("cycles", queryset=RetrainingCycle.objects.only("id", "dataset"))
        )
    )
