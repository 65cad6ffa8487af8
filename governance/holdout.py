"""The holdout: establishing a template's frozen baseline and changing it.

A holdout label serves a fixed, sticky share of sessions (policy:
`HOLDOUT_SHARE`, 2%) a pair promotions never move. It is established at the
production pair once; afterwards the only way it moves is a baseline-change
request: a `PromotionRequest` of kind `baseline` on the holdout label, following
the template's tier rules but never automatic (at least an ml_lead), with
four-eyes, and logged as a `rebaseline` decision naming the old and new pairs.
"""

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from governance import baseline, decisions, promotions
from governance.exceptions import GovernanceError, HoldoutExistsError
from governance.models import DecisionLogEntry, PromotionRequest
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion


def _pair(label: Label) -> list[int]:
    return [label.prompt_version_id, label.model_version_id]


def _production(template: PromptTemplate) -> Label:
    production = Label.objects.filter(
        template=template, name=Label.Name.PRODUCTION
    ).first()
    if production is None:
        raise GovernanceError(
            f"{template.name} has no production pair yet; nothing to hold out.",
            field="template",
        )
    return production


@transaction.atomic
def establish_holdout(*, template: PromptTemplate, acting_user: User | None) -> Label:
    """Create the template's holdout at its production pair with the policy share.

    For an ML lead (admin action, `manage.py establish_holdouts`, the demo);
    `acting_user=None` is the system. Refused when the template has a holdout
    (409) or no production pair, or when the policy share is 0. Logs a
    `rebaseline` decision (deployed at once: the pair is production's, nobody
    chose it) and `governance.holdout.established`.
    """
    # One establishment per template even when two arrive at once.
    PromptTemplate.objects.select_for_update().get(pk=template.pk)
    if Label.objects.filter(template=template, name=Label.Name.HOLDOUT).exists():
        raise HoldoutExistsError(
            f"{template.name} already has a holdout; request a baseline change "
            "to move it.",
            field="template",
        )
    share = baseline.holdout_share()
    if not share:
        raise GovernanceError("HOLDOUT_SHARE is 0: no holdout to establish.")
    production = _production(template)
    label = baseline.move_holdout(
        template=template,
        prompt_version=production.prompt_version,
        model_version=production.model_version,
        reason="holdout established at the production pair",
        acting_user=acting_user,
    )
    entry = decisions.open_decision(
        template=template,
        decision=DecisionLogEntry.Decision.REBASELINE,
        rationale=f"Holdout established at the production pair for {share:.2%} "
        "of sessions.",
        acting_user=acting_user,
        prompt_version=production.prompt_version,
        model_version=production.model_version,
        evaluation_summary={
            "holdout": {"from": None, "to": _pair(production), "share": str(share)}
        },
        deployed_at=timezone.now(),
    )
    record_event(
        event_type="governance.holdout.established",
        actor=acting_user,
        subject=label,
        data={"pair": _pair(label), "share": str(share), "decision": entry.sequence},
    )
    return label


def _served_by_production(
    template: PromptTemplate, prompt_version: PromptVersion, model_version: ModelVersion
) -> bool:
    production = _production(template)
    return production.history.filter(
        prompt_version_id=prompt_version.pk, model_version_id=model_version.pk
    ).exists()


@transaction.atomic
def request_baseline_change(
    *,
    template: PromptTemplate,
    rationale: str,
    requested_by: User,
    prompt_version: PromptVersion | None = None,
    model_version: ModelVersion | None = None,
) -> PromotionRequest:
    """Ask to re-base the holdout on a pair production serves or once served.

    The pair defaults to the current production pair. Logs a `rebaseline`
    decision with the old and new pairs and opens a pending `baseline` request
    (tier at least 2: a person always approves; the requester never can). The
    holdout moves when the request is approved (`approvals.promote`).
    """
    if not rationale.strip():
        raise GovernanceError("A baseline change needs a rationale.", field="rationale")
    holdout = Label.objects.filter(template=template, name=Label.Name.HOLDOUT).first()
    if holdout is None:
        raise GovernanceError(
            f"{template.name} has no holdout yet; establish it first.",
            field="template",
        )
    if (prompt_version is None) != (model_version is None):
        raise GovernanceError(
            "Name both versions of the pair, or neither for production's.",
            field="model_version" if model_version is None else "prompt_version",
        )
    if prompt_version is None or model_version is None:
        production = _production(template)
        prompt_version, model_version = (
            production.prompt_version,
            production.model_version,
        )
    if prompt_version.template_id != template.pk:
        raise GovernanceError(
            "The prompt version belongs to another template.", field="prompt_version"
        )
    if not _served_by_production(template, prompt_version, model_version):
        raise GovernanceError(
            "A baseline is a pair production serves or once served.",
            field="prompt_version",
        )
    new = [prompt_version.pk, model_version.pk]
    if new == _pair(holdout):
        raise GovernanceError("The holdout already serves this pair.", field="pair")
    change: dict[str, Any] = {"from": _pair(holdout), "to": new}
    decision = decisions.open_decision(
        template=template,
        decision=DecisionLogEntry.Decision.REBASELINE,
        rationale=f"Holdout baseline change requested: {rationale.strip()}",
        acting_user=requested_by,
        prompt_version=prompt_version,
        model_version=model_version,
        evaluation_summary={"holdout": change},
    )
    return promotions.create_request(
        kind=PromotionRequest.Kind.BASELINE,
        template=template,
        label_name=Label.Name.HOLDOUT,
        prompt_version=prompt_version,
        model_version=model_version,
        candidate_run=None,
        rationale=rationale,
        requested_by=requested_by,
        decision=decision,
    )
