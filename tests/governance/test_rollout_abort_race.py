"""Aborts racing each other and the beat's check, on PostgreSQL: one outcome."""

import pytest
from django.contrib.auth.models import User

from evaluation.models import EvaluationRun
from governance.chain import verify_chain
from governance.exceptions import StaleRequestError
from governance.models import DecisionLogEntry, Rollout, RolloutAlert, RolloutPolicy
from governance.rollout_abort import abort_rollout
from governance.rollout_steps import check_rollout
from tests.governance.test_concurrency import run_together
from tests.governance.test_rollout import (
    candidate,
    champion,
    policy,
    promote_tier1,
    serve_both,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
__all__ = ["candidate", "champion", "policy"]  # fixtures shared


@pytest.fixture
def rollout(candidate: EvaluationRun, policy: RolloutPolicy, senior: User) -> Rollout:
    return Rollout.objects.get(request=promote_tier1(candidate, senior))


def abort_as(user: User, rollout: Rollout) -> str:
    try:
        abort_rollout(
            rollout=Rollout.objects.get(pk=rollout.pk), acting_user=user, reason="race"
        )
    except StaleRequestError:
        return "refused"
    return "aborted"


def one_stop(rollout: Rollout) -> str:
    assert RolloutAlert.objects.filter(rollout=rollout).count() == 1
    assert DecisionLogEntry.objects.filter(decision="rollback").count() == 1
    assert DecisionLogEntry.objects.filter(outcome="rolled_back").count() == 1
    assert verify_chain().ok
    rollout.refresh_from_db()
    return rollout.status


def test_two_aborts_at_once_stop_the_rollout_once(
    rollout: Rollout, ml_lead: User, ml_lead2: User
) -> None:
    people = [ml_lead, ml_lead2]
    results = run_together(lambda index: abort_as(people[index], rollout), 2)
    assert sorted(results) == ["aborted", "refused"]
    assert one_stop(rollout) == Rollout.Status.ABORTED


def test_an_abort_racing_the_beat_check_gives_one_outcome(
    rollout: Rollout, ml_lead: User, analyst: User
) -> None:
    serve_both(rollout, analyst, "race", failures=10)  # the check would roll back

    def work(index: int) -> str:
        if index == 0:
            return abort_as(ml_lead, rollout)
        return str(check_rollout(rollout_id=rollout.pk))

    results = sorted(run_together(work, 2))
    status = one_stop(rollout)
    if status == Rollout.Status.ABORTED:
        assert results in (["None", "aborted"], ["aborted", "None"])
    else:
        assert status == Rollout.Status.ROLLED_BACK
        assert results == ["refused", "rolled_back"]
