"""The rollout admin: where a rollout stands, its gates, and refusals shown."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from evaluation.models import EvaluationRun
from governance.models import Rollout, RolloutPolicy
from governance.rollout_steps import check_rollout
from registry.models import PromptTemplate
from tests.governance.rollout_builders import traffic
from tests.governance.test_rollout import (
    MIN,
    candidate,
    champion,
    pairs,
    policy,
    promote_tier1,
)

pytestmark = pytest.mark.django_db
__all__ = ["candidate", "champion", "policy"]  # fixtures shared with test_rollout


def test_the_rollout_page_shows_stage_sessions_and_each_gate(
    candidate: EvaluationRun,
    policy: RolloutPolicy,
    senior: User,
    analyst: User,
    ml_lead: User,
) -> None:
    rollout = Rollout.objects.get(request=promote_tier1(candidate, senior))
    cand, base = pairs(rollout)
    traffic(pair=cand, analyst=analyst, sessions=8, prefix="c", negative=1)
    traffic(pair=base, analyst=analyst, sessions=MIN, prefix="p", negative=2)
    assert check_rollout(rollout_id=rollout.pk) == "wait"
    client = Client()
    client.force_login(ml_lead)
    listing = client.get("/admin/governance/rollout/")
    assert listing.status_code == 200
    assert f"8 / {MIN} / {MIN}" in listing.content.decode()
    page = client.get(f"/admin/governance/rollout/{rollout.pk}/change/").content
    text = page.decode()
    for expected in (
        "pilot (1/3)",
        "negative_rate",
        "execution_success",
        "latency_p95",
        "Wilson",
        "fisher_exact",
        f"/admin/governance/promotionrequest/{rollout.request_id}/review/",
    ):
        assert expected in text, expected
    review = client.get(
        f"/admin/governance/promotionrequest/{rollout.request_id}/review/"
    )
    assert f"/admin/governance/rollout/{rollout.pk}/change/" in review.content.decode()


def test_sign_off_refusals_are_messages_and_a_missing_role_is_403(
    candidate: EvaluationRun,
    policy: RolloutPolicy,
    senior: User,
    analyst: User,
    ml_lead: User,
) -> None:
    rollout = Rollout.objects.get(request=promote_tier1(candidate, senior))
    url = f"/admin/governance/rollout/{rollout.pk}/signoff/"
    client = Client()
    client.force_login(ml_lead)
    answer = client.post(url, {"comment": "go"}, follow=True)
    assert answer.status_code == 200
    assert "is active" in answer.content.decode()  # not awaiting a sign-off
    rollout.refresh_from_db()
    assert rollout.signed_off_by is None
    analyst.is_staff = True
    analyst.save(update_fields=["is_staff"])
    client.force_login(analyst)
    assert client.post(url, {"comment": "go"}).status_code == 403


def test_the_policy_admin_refuses_falling_shares_naming_the_field(
    template: PromptTemplate, ml_lead: User
) -> None:
    client = Client()
    client.force_login(ml_lead)
    answer = client.post(
        "/admin/governance/rolloutpolicy/add/",
        {
            "template": template.pk,
            "mode": "staged",
            "stages": '[{"name": "a", "share": 0.5}, {"name": "b", "share": 0.2}]',
            "min_sessions": 10,
            "alpha": 0.05,
            "latency_tolerance": 0.1,
            "max_stage_hours": 24,
        },
    )
    assert answer.status_code == 200  # the form again, with the error
    assert "shares rise strictly" in answer.content.decode()
    assert not RolloutPolicy.objects.exists()
