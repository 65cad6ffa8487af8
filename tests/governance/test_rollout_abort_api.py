"""The rollouts API: list and detail for readers, abort for approvers."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from evaluation.models import EvaluationRun
from governance.models import Rollout, RolloutPolicy
from tests.governance.test_rollout import candidate, champion, policy, promote_tier1

pytestmark = pytest.mark.django_db
__all__ = ["candidate", "champion", "policy"]  # fixtures shared
API = "/api/v1/governance/rollouts"


@pytest.fixture
def rollout(candidate: EvaluationRun, policy: RolloutPolicy, senior: User) -> Rollout:
    return Rollout.objects.get(request=promote_tier1(candidate, senior))


def test_readers_list_and_open_rollouts_in_constant_queries(
    rollout: Rollout,
    client_as: Callable[[User], APIClient],
    senior: User,
    django_assert_max_num_queries: Any,
) -> None:
    client = client_as(senior)
    with django_assert_max_num_queries(8):
        listed = client.get(f"{API}/")
    assert listed.status_code == 200
    row = listed.json()["results"][0]
    assert (row["id"], row["status"], row["stage"]) == (rollout.pk, "active", "pilot")
    assert [s["verdict"] for s in row["stages"]] == ["entered"]
    detail = client.get(f"{API}/{rollout.pk}/")
    assert detail.status_code == 200
    assert detail.json()["baseline_prompt_version"] == (
        rollout.baseline_prompt_version_id
    )
    assert client.get(f"{API}/999999/").status_code == 404


def test_anonymous_401_and_analyst_403(
    rollout: Rollout,
    api_client: APIClient,
    client_as: Callable[[User], APIClient],
    analyst: User,
) -> None:
    assert api_client.get(f"{API}/").status_code == 401
    assert api_client.post(f"{API}/{rollout.pk}/abort/", {}).status_code == 401
    assert client_as(analyst).get(f"{API}/").status_code == 403
    denied = client_as(analyst).post(
        f"{API}/{rollout.pk}/abort/", {"reason": "x"}, format="json"
    )
    assert denied.status_code == 403


def test_an_approver_of_another_tier_gets_403_from_the_service(
    rollout: Rollout, client_as: Callable[[User], APIClient], safety: User
) -> None:
    rollout.request.tier = 2
    rollout.request.save(update_fields=["tier"])
    response = client_as(safety).post(
        f"{API}/{rollout.pk}/abort/", {"reason": "stop"}, format="json"
    )
    assert response.status_code == 403 and "ml_lead" in response.json()["detail"]
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE


@pytest.mark.parametrize(
    "body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 1001}]
)
def test_a_missing_blank_or_long_reason_is_a_400_naming_reason(
    rollout: Rollout,
    client_as: Callable[[User], APIClient],
    ml_lead: User,
    body: dict[str, str],
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/{rollout.pk}/abort/", body, format="json"
    )
    assert response.status_code == 400 and "reason" in response.json()
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE


def test_an_ml_lead_aborts_then_a_second_abort_is_409(
    rollout: Rollout, client_as: Callable[[User], APIClient], ml_lead: User
) -> None:
    client = client_as(ml_lead)
    path = f"{API}/{rollout.pk}/abort/"
    done = client.post(path, {"reason": "pager fired"}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "aborted"
    assert done.json()["stages"][-1]["actor"] == ml_lead.username
    again = client.post(path, {"reason": "again"}, format="json")
    assert again.status_code == 409 and "aborted" in again.json()["detail"]
    missing = client.post(f"{API}/999999/abort/", {"reason": "x"}, format="json")
    assert missing.status_code == 404
