"""The rollout admin page in words, and its abort button and form."""

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from evaluation.models import EvaluationRun
from governance.models import DecisionLogEntry, Rollout, RolloutPolicy
from tests.governance.test_rollout import candidate, champion, policy, promote_tier1

pytestmark = pytest.mark.django_db
__all__ = ["candidate", "champion", "policy"]  # fixtures shared


@pytest.fixture
def rollout(candidate: EvaluationRun, policy: RolloutPolicy, senior: User) -> Rollout:
    return Rollout.objects.get(request=promote_tier1(candidate, senior))


def logged_in(user: User, **options: bool) -> Client:
    client = Client(**options)
    client.force_login(user)
    return client


def visible(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


def test_the_change_page_names_pairs_and_shows_the_policy_as_a_table(
    rollout: Rollout, ml_lead: User
) -> None:
    page = logged_in(ml_lead).get(f"/admin/governance/rollout/{rollout.pk}/change/")
    assert page.status_code == 200
    text = visible(page.content)
    name = rollout.template.name
    candidate = rollout.prompt_version
    model = rollout.model_version.name
    assert f"prompt {name} v{candidate.number} · model {model}" in text
    base = rollout.baseline_prompt_version
    assert f"prompt {name} v{base.number} · model" in text
    html = page.content.decode()
    assert f"/admin/registry/promptversion/{candidate.pk}/change/" in html
    assert f"/admin/registry/modelversion/{rollout.model_version_id}/change/" in html
    for row in ("1 pilot 5% current", "2 limited 25%", "3 broad 100%"):
        assert row in text, row
    assert "At least 20 sessions per pair and stage" in text
    assert '"stages"' not in html  # no JSON
    assert "Abort rollout" in text


def test_the_abort_button_is_hidden_without_the_right_or_once_finished(
    rollout: Rollout, senior: User, ml_lead: User
) -> None:
    url = f"/admin/governance/rollout/{rollout.pk}/change/"
    assert "Abort rollout" not in visible(logged_in(senior).get(url).content)
    rollout.status = Rollout.Status.ROLLED_BACK
    rollout.save(update_fields=["status"])
    assert "Abort rollout" not in visible(logged_in(ml_lead).get(url).content)


def test_aborting_from_the_admin_asks_a_reason_then_stops_the_rollout(
    rollout: Rollout, ml_lead: User
) -> None:
    client = logged_in(ml_lead)
    url = f"/admin/governance/rollout/{rollout.pk}/abort/"
    form = client.get(url)
    assert form.status_code == 200
    assert "Reason (required)" in visible(form.content)
    assert "csrfmiddlewaretoken" in form.content.decode()
    blank = client.post(url, {"reason": "  "}, follow=True)
    assert "An abort needs a reason." in visible(blank.content)
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE
    done = client.post(url, {"reason": "pager fired"}, follow=True)
    text = visible(done.content)
    assert f"Aborted rollout #{rollout.pk}" in text
    assert "Aborted by a person" in text
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ABORTED
    entry = DecisionLogEntry.objects.get(decision="rollback")
    assert entry.decided_by == ml_lead and "pager fired" in entry.rationale
    again = client.post(url, {"reason": "again"}, follow=True)
    assert "only an open rollout can be aborted" in visible(again.content)
    page = client.get(f"/admin/governance/rollout/{rollout.pk}/change/")
    stages = visible(page.content).split("Rollout stages", 1)[1]
    # The stage rows read as percentages and facts, not decimals and JSON.
    assert "5%" in stages and "0.0500" not in stages
    assert f"aborted_by: {ml_lead.username}; reason: pager fired" in stages
    assert "{" not in stages


def test_the_abort_form_refuses_without_the_right_or_a_csrf_token(
    rollout: Rollout, senior: User, ml_lead: User
) -> None:
    url = f"/admin/governance/rollout/{rollout.pk}/abort/"
    assert logged_in(senior).get(url).status_code == 403
    assert logged_in(senior).post(url, {"reason": "x"}).status_code == 403
    no_token = logged_in(ml_lead, enforce_csrf_checks=True)
    assert no_token.post(url, {"reason": "x"}).status_code == 403
    rollout.refresh_from_db()
    assert rollout.status == Rollout.Status.ACTIVE
