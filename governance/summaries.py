"""How a deployment's approvers and evaluation are summarised in the decision log."""

from typing import Any

from governance import gates, safety_gate
from governance.models import Approval, PromotionRequest


def approver_entry(approval: Approval) -> dict[str, Any]:
    """An approver as the decision log lists them, with the underpowered segment
    drops they acknowledged when there were any."""
    entry: dict[str, Any] = {
        "username": approval.approver.get_username(),
        "role": approval.role,
    }
    if approval.acknowledged_underpowered:
        entry["acknowledged_underpowered"] = approval.acknowledged_underpowered
    return entry


def evaluation_summary(
    request: PromotionRequest, comparison: dict[str, Any]
) -> dict[str, Any]:
    """Candidate vs production per segment (rates with Wilson 95% intervals), the
    gates, and the underpowered drops approvers acknowledged, as the decision
    log stores them."""
    return {
        "candidate_run": request.candidate_run_id,
        "champion_run": request.champion_run_id,
        "segments": comparison["segments"],
        "interval": "Wilson score, 95%",
        "gates": request.gates,
        "underpowered_acknowledged": gates.underpowered_segments(request.gates),
        "safety": safety_gate.safety_results(request.gates),
    }
