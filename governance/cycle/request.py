"""The promotion request a cycle opens, with the numbers reviewers check first."""

from __future__ import annotations

from typing import Any

from governance import promotions
from governance.cycle.models import RetrainingCycle
from governance.models import PromotionRequest

METRIC = "execution_accuracy"


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


def open_request(cycle: RetrainingCycle, extra: str = "") -> PromotionRequest:
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
