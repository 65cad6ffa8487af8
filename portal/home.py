"""What waits for one person, per role: the sections of their home at `/`.

Reads only through the apps' selectors (and governance's four-eyes rule, so a
request is never shown as awaiting someone the approval service would refuse).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from evaluation.runs.selectors import HeadlineAccuracy, production_accuracy
from feedback.models import ReviewItem
from feedback.selectors import (
    list_review_queue,
    review_items_claimed_by,
    review_items_to_adjudicate,
)
from governance.approvals import contributions_of, roles_of
from governance.chain import Verification
from governance.models import DecisionLogEntry, PromotionRequest
from governance.selectors import (
    decision_log_status,
    pending_promotion_requests,
    recent_decisions,
)
from governance.tiers import missing_roles, rule_for

SHOWN = 10
TIER3_ROLES = frozenset(("ai_safety", "product"))


@dataclass(frozen=True)
class ReviewWork:
    """A senior analyst's queue: the top of pending work, theirs, adjudication."""

    pending: list[ReviewItem]
    pending_total: int
    mine: list[ReviewItem]
    adjudication: list[ReviewItem]


@dataclass(frozen=True)
class WaitingRequest:
    """A pending promotion request, the roles it still lacks and its failed gates."""

    request: PromotionRequest
    missing: list[str]
    failing_gates: list[dict[str, Any]]


@dataclass
class Home:
    """The sections one person sees; None means the section is not theirs."""

    roles: list[str]
    accuracy: list[HeadlineAccuracy]
    review: ReviewWork | None = None
    awaiting_me: list[WaitingRequest] | None = None
    tier3: list[WaitingRequest] | None = None
    decisions: list[DecisionLogEntry] | None = None
    verification: Verification | None = None
    notes: list[str] = field(default_factory=list)


def _review_work(user: User) -> ReviewWork:
    pending = list_review_queue(state=ReviewItem.State.PENDING)
    return ReviewWork(
        pending=list(pending[:SHOWN]),
        pending_total=pending.count(),
        mine=list(review_items_claimed_by(user=user)[:SHOWN]),
        adjudication=list(review_items_to_adjudicate(user=user)[:SHOWN]),
    )


def _waiting(request: PromotionRequest) -> WaitingRequest:
    covered = [
        approval.role
        for approval in request.approvals.all()
        if approval.content_hash == request.content_hash
        and approval.verdict == approval.Verdict.APPROVE
    ]
    return WaitingRequest(
        request=request,
        missing=missing_roles(rule_for(request.tier), covered),
        failing_gates=[gate for gate in request.gates if not gate.get("passed")],
    )


def _approved_by(request: PromotionRequest, user: User) -> bool:
    return any(
        approval.approver_id == user.pk
        and approval.content_hash == request.content_hash
        for approval in request.approvals.all()
    )


def _awaiting(user: User, my_roles: set[str]) -> list[WaitingRequest]:
    """Pending requests lacking one of my roles that I may still decide."""
    found = []
    for request in pending_promotion_requests():
        waiting = _waiting(request)
        if not my_roles & set(waiting.missing) or _approved_by(request, user):
            continue
        if contributions_of(request, user):
            continue
        found.append(waiting)
    return found


def home_for(user: User) -> Home:
    """Every section `user` has a role (or permission) for, filled in."""
    groups = sorted(user.groups.values_list("name", flat=True))
    home = Home(roles=groups, accuracy=production_accuracy())
    if user.has_perm("feedback.review_reviewitem"):
        home.review = _review_work(user)
    my_roles = roles_of(user)
    if my_roles and user.has_perm("governance.approve_promotionrequest"):
        home.awaiting_me = _awaiting(user, my_roles)
    if (my_roles & TIER3_ROLES) or user.is_superuser:
        mine = {w.request.pk for w in home.awaiting_me or []}
        home.tier3 = [
            _waiting(r)
            for r in pending_promotion_requests().filter(tier=3)
            if r.pk not in mine
        ]
    if "auditor" in groups or user.is_superuser:
        home.decisions = recent_decisions(limit=SHOWN)
        home.verification = decision_log_status()
    if not (home.review or home.awaiting_me is not None or home.decisions):
        home.notes.append(
            "Nothing waits for your role here; the accuracy per template is below."
        )
    return home
