"""Mail to the people whose approval a request still needs."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.urls import reverse

from governance.approvals import roles_needed
from governance.gates import underpowered_segments
from governance.models import Approval, PromotionRequest
from governance.tiers import rule_for


def approvers_to_notify(request: PromotionRequest) -> list[User]:
    """Active holders of a still-needed role, with an email, never the requester."""
    approved = request.approvals.filter(
        content_hash=request.content_hash, verdict=Approval.Verdict.APPROVE
    )
    needed = roles_needed(request, rule_for(request.tier), list(approved))
    if not needed:
        return []
    return list(
        # requested_by_id is None for system requests: then this excludes nobody.
        get_user_model()  # type: ignore[misc]
        .objects.filter(groups__name__in=needed, is_active=True)
        .exclude(email="")
        .exclude(pk=request.requested_by_id)
        .exclude(pk__in=approved.values("approver_id"))
        .distinct()
        .order_by("pk")
    )


def notify_on_commit(request: PromotionRequest) -> None:
    """Queue the approval mail once the request's transaction commits."""
    from governance.tasks import notify_approvers  # tasks import this module

    notify_approvers.delay_on_commit(request.pk)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask


def send_approval_request(*, request: PromotionRequest) -> int:
    """Mail every approver the request needs (Bcc); returns how many were mailed.

    Sends nothing for a request that is no longer pending, so a late or repeated
    task is harmless.
    """
    if request.status != PromotionRequest.Status.PENDING:
        return 0
    recipients = [user.email for user in approvers_to_notify(request)]
    if not recipients:
        return 0
    url = reverse("admin:governance_promotionrequest_review", args=[request.pk])
    failing = [g["name"] for g in request.gates if not g["passed"]]
    underpowered = underpowered_segments(request.gates)
    to_acknowledge = (
        f"Underpowered segment drops to acknowledge: {', '.join(underpowered)}\n"
        if underpowered
        else ""
    )
    body = (
        f"{request.kind.title()} request #{request.pk} for "
        f"{request.template.name}:{request.label_name} needs your review "
        f"(risk tier {request.tier}).\n\n"
        f"Pair: {request.prompt_version} with {request.model_version}\n"
        f"Rationale: {request.rationale}\n"
        f"Gates: {'all pass' if not failing else 'FAILING ' + ', '.join(failing)}\n"
        f"{to_acknowledge}\n"
        f"Review it in the admin: {url}\n"
    )
    EmailMessage(
        subject=f"[Loopgate] Review {request.kind} #{request.pk} "
        f"({request.template.name})",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        bcc=recipients,
    ).send()
    return len(recipients)
