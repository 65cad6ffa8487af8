"""Admin for runs: progress, comparison page, cancel action, add via service."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

from evaluation.models import (
    EvaluationRun,
    GoldenSetSnapshot,
)
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import move_label
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)

ADMIN = "/admin/evaluation/evaluationrun/"


@pytest.fixture
def snapshot(target_db: TargetDatabase) -> GoldenSetSnapshot:
    return snapshot_of(add_goldens(target_db))


@pytest.fixture
def runs(
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> tuple[EvaluationRun, EvaluationRun]:
    champion = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    move_label(
        template=template,
        name=Label.Name.PRODUCTION,
        prompt_version=champion,
        model_version=model_v1,
        reason="champion",
        acting_user=ml_lead,
    )
    challenger = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    return (
        finished_run(champion, model_v1, snapshot),
        finished_run(challenger, model_v1, snapshot),
    )


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_changelist_shows_progress_and_accuracy_without_a_cancel_for_auditors(
    auditor: User, runs: tuple[EvaluationRun, EvaluationRun]
) -> None:
    page = logged_in(auditor).get(ADMIN).content.decode()
    assert '<progress max="1" value="1.000"></progress> 6 / 6' in page
    assert "66.7%" in page and "83.3%" in page
    assert "cancel_runs" not in page


def test_comparison_page_defaults_to_the_champion(
    auditor: User, runs: tuple[EvaluationRun, EvaluationRun]
) -> None:
    champion, challenger = runs
    page = logged_in(auditor).get(f"{ADMIN}{challenger.pk}/compare/").content.decode()
    assert f"run {champion.pk}</a>" in page
    assert "2 fixed, 1 broken" in page
    assert "difficulty:medium" in page and "-33.3" in page
    # Rates with their Wilson 95% intervals: 4 of 6 and 5 of 6 overall.
    assert '0.667 <small class="ci">[0.300&ndash;0.903]</small>' in page
    assert '0.833 <small class="ci">[0.436&ndash;0.970]</small>' in page
    refused = logged_in(auditor).get(f"{ADMIN}{challenger.pk}/compare/?with=999")
    assert refused.status_code == 404


def test_after_a_promotion_the_champion_is_compared_with_what_it_replaced(
    auditor: User,
    ml_lead: User,
    model_v1: ModelVersion,
    runs: tuple[EvaluationRun, EvaluationRun],
) -> None:
    champion, challenger = runs
    move_label(
        template=challenger.prompt_version.template,
        name=Label.Name.PRODUCTION,
        prompt_version=challenger.prompt_version,
        model_version=model_v1,
        reason="promoted",
        acting_user=ml_lead,
    )
    page = logged_in(auditor).get(f"{ADMIN}{challenger.pk}/compare/").content.decode()
    assert f"run {champion.pk}</a>" in page
    assert "2 fixed, 1 broken" in page
    itself = logged_in(auditor).get(
        f"{ADMIN}{challenger.pk}/compare/?with={challenger.pk}"
    )
    assert "cannot be compared with itself" in itself.content.decode()


def test_a_champion_with_no_earlier_pair_asks_for_a_run_to_compare_with(
    auditor: User, runs: tuple[EvaluationRun, EvaluationRun]
) -> None:
    champion, _ = runs
    page = logged_in(auditor).get(f"{ADMIN}{champion.pk}/compare/").content.decode()
    assert "No other champion run on this snapshot" in page
    assert "cannot be compared with itself" not in page


def test_ml_lead_starts_and_cancels_a_run_in_the_admin(
    ml_lead: User,
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    client = logged_in(ml_lead)
    response = client.post(
        f"{ADMIN}add/",
        {
            "prompt_version": prompt_v1.pk,
            "model_version": model_v1.pk,
            "snapshot": snapshot.pk,
            "mode": "spider",
        },
    )
    assert response.status_code == 302
    run = EvaluationRun.objects.get()
    assert run.requested_by == ml_lead and run.chunks.exists()
    client.post(ADMIN, {"action": "cancel_runs", "_selected_action": [run.pk]})
    run.refresh_from_db()
    assert run.status == EvaluationRun.Status.CANCELLED
