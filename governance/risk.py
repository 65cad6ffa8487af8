"""Risk assessments of promotion requests: the policy's fields, checks, rows.

The service that writes one (with the request's row lock, four-eyes and roles)
is `approvals.complete_risk_assessment`; this module holds what it and the
approval guard share.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from governance import gates
from governance.exceptions import GovernanceError
from governance.models import PromotionRequest, RiskAssessment
from registry.content import content_hash

MAX_ANSWER = 5000


def risk_fields(request: PromotionRequest) -> list[dict[str, str]]:
    """The fields the template's policy asks approvers to answer."""
    fields = gates.policy_for(request.template).risk_assessment_fields
    return [
        {"name": str(f["name"]), "label": str(f.get("label", f["name"]))}
        for f in fields
    ]


def clean_answers(answers: Any, fields: list[dict[str, str]]) -> dict[str, str]:
    """Every policy field answered with text, nothing else; errors name the field."""
    if not isinstance(answers, dict):
        raise GovernanceError(
            "Must be an object of answers by field.", field="risk_assessment"
        )
    names = [f["name"] for f in fields]
    unknown = sorted(set(answers) - set(names))
    if unknown:
        raise GovernanceError(
            f"Unknown field(s): {', '.join(map(str, unknown))}; the policy asks "
            f"for {', '.join(names)}.",
            field="risk_assessment",
        )
    clean = {}
    for name in names:
        value = answers.get(name)
        if not isinstance(value, str) or not value.strip():
            raise GovernanceError(
                f"{name} needs an answer.", field=f"risk_assessment.{name}"
            )
        if len(value) > MAX_ANSWER or "\x00" in value:
            raise GovernanceError(
                f"{name}: at most {MAX_ANSWER} characters, no NUL.",
                field=f"risk_assessment.{name}",
            )
        clean[name] = value.strip()
    return clean


def current_assessment(request: PromotionRequest) -> RiskAssessment | None:
    """The latest risk assessment of the request, or None."""
    return (
        RiskAssessment.objects.filter(request=request)
        .select_related("author")
        .order_by("-created_at", "-id")
        .first()
    )


def record_assessment(
    request: PromotionRequest, author: User, role: str, answers: Any
) -> RiskAssessment:
    """Store a new assessment version and point the request at it.

    The caller holds the request's row lock and has checked who may write;
    the caller saves the request (its content hash changes with the assessment).
    """
    fields = risk_fields(request)
    clean = clean_answers(answers, fields)
    digest = content_hash({"request": request.pk, "fields": fields, "answers": clean})
    row = RiskAssessment.objects.create(
        request=request,
        fields=fields,
        answers=clean,
        author=author,
        role=role,
        content_hash=digest,
    )
    request.risk_assessment_hash = digest
    return row
