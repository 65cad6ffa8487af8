"""The one path that moves a template's holdout label, and the guard for others.

The holdout serves a frozen baseline pair to a fixed share of sessions, so that
production's long-term drift is measured against something the loop never
touched. Promotions, rollbacks and rollouts refuse it (`guard_not_holdout`);
`registry.services.move_label` refuses it too unless handed the key this module
alone imports (an import-linter contract). `move_holdout` is called only by
`governance.holdout.establish_holdout` and by `approvals.promote` for an approved
baseline-change request.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User

from governance.exceptions import GovernanceError
from registry import holdout_key
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import move_label


def holdout_share() -> Decimal:
    """The policy's holdout share (`HOLDOUT_SHARE`, default 2%), as stored."""
    return Decimal(str(settings.HOLDOUT_SHARE)).quantize(Decimal("0.0001"))


def guard_not_holdout(label_name: str, *, field: str = "label_name") -> None:
    """Refuse any governed move of the holdout other than a baseline change."""
    if label_name == Label.Name.HOLDOUT:
        raise GovernanceError(
            "The holdout is a frozen baseline: promotions, rollbacks and rollouts "
            "never move it; request a baseline change instead.",
            field=field,
        )


def move_holdout(
    *,
    template: PromptTemplate,
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    reason: str,
    acting_user: User | None,
) -> Label:
    """Point the holdout at a pair with the policy's share (callers: see above).

    Records `registry.label.moved` through `move_label`, in the caller's
    transaction.
    """
    return move_label(
        template=template,
        name=Label.Name.HOLDOUT,
        prompt_version=prompt_version,
        model_version=model_version,
        reason=reason,
        acting_user=acting_user,
        traffic_share=holdout_share(),
        holdout=holdout_key.KEY,
    )
