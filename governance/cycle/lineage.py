"""Where a cycle's challenger came from, for the model card of its request.

Registered with `governance.model_cards` when the app is ready: model cards
stand below the cycle and read this through the hook.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from governance.cycle.models import RetrainingCycle
from governance.models import PromotionRequest


def cycle_lineage(request: PromotionRequest) -> dict[str, Any] | None:
    """Dataset snapshot, corrections used, contamination, shadow comparison and
    the error-class evidence of the cycle that opened `request` (None if none)."""
    cycle = (
        RetrainingCycle.objects.filter(
            Q(promotion_request=request) | Q(decision_id=request.decision_id)
        )
        .select_related("dataset")
        .order_by("-started_at", "-id")
        .first()
    )
    if cycle is None or cycle.dataset is None:
        return None
    dataset, manifest = cycle.dataset, cycle.dataset.manifest
    evidence = cycle.decision.evaluation_summary if cycle.decision else {}
    return {
        "source": "retraining cycle",
        "cycle": cycle.pk,
        "dataset": {
            "id": dataset.pk,
            "hash": dataset.content_hash,
            "rows": manifest.get("counts", {}).get("rows"),
            "window": manifest.get("window"),
            "code_version": manifest.get("code_version"),
            "by_segment": manifest.get("counts", {}).get("by_segment"),
        },
        "corrections_used": manifest.get("ids", {}).get("review_items", []),
        "contamination": cycle.validation.get("contamination", {}).get("approved", {}),
        "online_comparison": cycle.online_comparison or None,
        "error_classes": evidence.get("error_classes"),
        "fine_tuning": (evidence.get("error_classes") or {}).get("advice"),
    }
