"""Stopping a rollout by hand: a person's abort, and the end a fast-path
rollback of production puts to a rollout of the same template.

Both end the rollout as the automatic rollback does (`rollout_steps.stop_rollout`):
the rollout label back to share 0, the request reverted, a `rollback` decision
in the chained log and the rollback alert. Neither ever promotes anything.
"""

from django.contrib.auth.models import User
from django.db import transaction

from governance import approvals
from governance.exceptions import GovernanceError, NotPermittedError, StaleRequestError
from governance.models import Rollout, RolloutStage
from governance.rollout_steps import stop_rollout
from governance.tiers import APPROVER_ROLES, rule_for
from registry.models import Label, PromptTemplate

MAX_REASON = 1000
OPEN = (Rollout.Status.ACTIVE, Rollout.Status.AWAITING_SIGNOFF)


def abort_roles(tier: int) -> frozenset[str]:
    """Who may abort a rollout of `tier`: the roles that approve at that tier
    (any approver role on tier 1, which needs no approver to promote)."""
    return frozenset(rule_for(tier).required_roles) or APPROVER_ROLES


def check_reason(reason: object) -> str:
    """The abort reason stripped, or an error naming `reason`."""
    if not isinstance(reason, str) or not reason.strip():
        raise GovernanceError("An abort needs a reason.", field="reason")
    if len(reason.strip()) > MAX_REASON:
        raise GovernanceError(
            f"Keep the reason within {MAX_REASON} characters.", field="reason"
        )
    return reason.strip()


def may_abort(user: User, rollout: Rollout) -> bool:
    """Whether `user` holds a role that approves at the rollout's tier and the
    `approve_promotionrequest` permission (superuser status is no role)."""
    return bool(
        approvals.roles_of(user) & abort_roles(rollout.request.tier)
    ) and user.has_perm("governance.approve_promotionrequest")


@transaction.atomic
def abort_rollout(*, rollout: Rollout, acting_user: User, reason: str) -> Rollout:
    """Stop an open rollout now and restore traffic as the automatic rollback does.

    A safety stop, so one authorised person may do it alone (no four-eyes, no
    quorum): a holder of a role that approves promotions at the rollout's risk
    tier, with `governance.approve_promotionrequest`; 403 otherwise. Needs a
    reason (at most MAX_REASON characters). Only an open rollout (active or
    awaiting sign-off) is aborted; 409 once it completed, rolled back or was
    aborted. Locks the rollout row, so two aborts, or an abort and the beat's
    check, give one outcome. Never promotes: the rollout label returns to the
    baseline at share 0 and production is left alone. Records an `aborted`
    stage, a `rollback` decision by the actor with the reason, a `rolled_back`
    outcome on the request's decision, `governance.rollout.aborted`, and the
    rollback alert (mail and webhook) after commit.
    """
    text = check_reason(reason)
    locked = (
        Rollout.objects.select_for_update(of=("self",))
        .select_related("template", "request")
        .get(pk=rollout.pk)
    )
    if not may_abort(acting_user, locked):
        roles = ", ".join(sorted(abort_roles(locked.request.tier)))
        raise NotPermittedError(f"Aborting this rollout needs one of {roles}.")
    if locked.status not in OPEN:
        raise StaleRequestError(
            f"Rollout #{locked.pk} is {locked.get_status_display().lower()}; only "
            "an open rollout can be aborted."
        )
    role = sorted(approvals.roles_of(acting_user) & abort_roles(locked.request.tier))
    name = acting_user.get_username()
    return stop_rollout(
        rollout=locked,
        evidence={"aborted_by": name, "reason": text, "failed": []},
        verdict=RolloutStage.Verdict.ABORTED,
        status=Rollout.Status.ABORTED,
        reason=(
            f"rollout #{locked.pk} of request #{locked.request_id} aborted at stage "
            f"{locked.stage['name']} by {name}: {text}"
        ),
        actor=acting_user,
        approvers=[{"username": name, "role": role[0]}],
    )


def end_for_rollback(
    *,
    template: PromptTemplate,
    production: Label,
    acting_user: User | None,
    reason: str,
    how: str = "on the incident fast path",
) -> Rollout | None:
    """A rollback of production just moved `production`: abort the template's
    open rollout, whose baseline is now stale, naming the rollback.

    Called in the rollback's transaction by `rollbacks.rollback_label` (the fast
    path) and by `approvals.deploy` for an approved rollback request (`how` says
    which; the actor already passed its checks, or is None when no person acted).
    The rollout label goes to share 0 on the pair production now serves.
    Returns the aborted rollout, or None when none was open.
    """
    locked = (
        Rollout.objects.select_for_update(of=("self",))
        .select_related("template", "request")
        .filter(template=template, status__in=OPEN)
        .first()
    )
    if locked is None:
        return None
    name = acting_user.get_username() if acting_user is not None else "the system"
    return stop_rollout(
        rollout=locked,
        evidence={"aborted_by": name, "reason": reason, "failed": []},
        verdict=RolloutStage.Verdict.ABORTED,
        status=Rollout.Status.ABORTED,
        reason=(
            f"rollout #{locked.pk} of request #{locked.request_id} aborted at stage "
            f"{locked.stage['name']}: production was rolled back {how} by {name} "
            f"({reason})"
        ),
        actor=acting_user,
        restore_to=(production.prompt_version, production.model_version),
    )
