"""The runs API: start, read progress, results, cancel, compare, alerts."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from evaluation.models import (
    EvaluationRun,
    GoldenSetSnapshot,
    RegressionAlert,
)
from evaluation.statistics import wilson_interval
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)

API = "/api/v1/evaluation"
Login = Callable[[User], APIClient]


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
    challenger = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    return (
        finished_run(champion, model_v1, snapshot),
        finished_run(challenger, model_v1, snapshot),
    )


@pytest.mark.parametrize(
    "url", ["runs/", "runs/1/", "runs/1/results/", "alerts/", "comparisons/"]
)
def test_every_endpoint_needs_authentication(api_client: APIClient, url: str) -> None:
    assert api_client.get(f"{API}/{url}").status_code == 401


@pytest.mark.parametrize("url", ["runs/", "alerts/", "comparisons/?champion=1"])
def test_analysts_without_run_permissions_are_refused(
    analyst: User, client_as: Login, url: str
) -> None:
    assert client_as(analyst).get(f"{API}/{url}").status_code == 403


def test_ml_lead_starts_a_run_by_pair_and_sees_it_queued(
    ml_lead: User,
    client_as: Login,
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/runs/",
        {
            "prompt_version": prompt_v1.pk,
            "model_version": model_v1.pk,
            "snapshot": snapshot.pk,
            "chunk_size": 4,
        },
        format="json",
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued" and body["total"] == 6 and body["done"] == 0
    assert body["template"] == "concerts" and body["requested_by"] == "lee"
    assert EvaluationRun.objects.get(pk=body["id"]).chunks.count() == 2


def test_a_run_can_be_started_by_template_label(
    ml_lead: User, client_as: Login, production: Label, snapshot: GoldenSetSnapshot
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/runs/",
        {"template": "concerts", "label": "production", "snapshot": snapshot.pk},
        format="json",
    )
    assert response.status_code == 202
    assert response.json()["prompt_version"] == production.prompt_version_id


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "non_field_errors"),
        ({"template": "concerts", "label": "production", "snapshot": 999}, "snapshot"),
        ({"template": "concerts", "label": "challenger"}, "label"),
        ({"template": "concerts"}, "label"),
        ({"template": "concerts", "label": "gold"}, "label"),
        ({"prompt_version": 999, "model_version": 999}, "prompt_version"),
        ({"mode": "fuzzy"}, "mode"),
        ({"chunk_size": 0}, "chunk_size"),
    ],
)
def test_bad_run_requests_are_400_naming_the_field(
    ml_lead: User,
    client_as: Login,
    production: Label,
    snapshot: GoldenSetSnapshot,
    payload: dict[str, object],
    field: str,
) -> None:
    base: dict[str, object] = {"snapshot": snapshot.pk}
    if "mode" in payload or "chunk_size" in payload:
        base.update({"template": "concerts", "label": "production"})
    response = client_as(ml_lead).post(
        f"{API}/runs/", {**base, **payload}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert not EvaluationRun.objects.exists()


def test_an_openai_model_without_endpoint_is_a_400_on_model_version(
    ml_lead: User,
    client_as: Login,
    prompt_v1: PromptVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    from registry.services import register_model_version

    model = register_model_version(
        name="remote",
        provider="openai",
        model_identifier="m",
        generation_parameters={},
        endpoint_name="NOT_CONFIGURED_HERE",
        acting_user=ml_lead,
    )
    response = client_as(ml_lead).post(
        f"{API}/runs/",
        {
            "prompt_version": prompt_v1.pk,
            "model_version": model.pk,
            "snapshot": snapshot.pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert (
        "LOOPGATE_ENDPOINT_NOT_CONFIGURED_HERE_URL"
        in response.json()["model_version"][0]
    )


def test_auditors_read_runs_but_cannot_start_or_cancel(
    auditor: User,
    client_as: Login,
    runs: tuple[EvaluationRun, EvaluationRun],
    snapshot: GoldenSetSnapshot,
) -> None:
    client = client_as(auditor)
    run = runs[0]
    detail = client.get(f"{API}/runs/{run.pk}/")
    assert detail.status_code == 200
    assert detail.json()["progress"] == 1.0 and detail.json()["summary"] == run.summary
    assert client.post(f"{API}/runs/", {"snapshot": snapshot.pk}).status_code == 403
    assert client.post(f"{API}/runs/{run.pk}/cancel/").status_code == 403


def test_missing_runs_are_404(ml_lead: User, client_as: Login, db: None) -> None:
    client = client_as(ml_lead)
    assert client.get(f"{API}/runs/999/").status_code == 404
    assert client.get(f"{API}/runs/999/results/").status_code == 404
    assert client.post(f"{API}/runs/999/cancel/").status_code == 404


def test_cancelling_through_the_api_stops_the_run_and_refuses_twice(
    ml_lead: User,
    client_as: Login,
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    client = client_as(ml_lead)
    run_id = client.post(
        f"{API}/runs/",
        {
            "prompt_version": prompt_v1.pk,
            "model_version": model_v1.pk,
            "snapshot": snapshot.pk,
        },
        format="json",
    ).json()["id"]
    response = client.post(
        f"{API}/runs/{run_id}/cancel/", {"reason": "wrong pair"}, format="json"
    )
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = client.post(f"{API}/runs/{run_id}/cancel/")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_results_are_filterable_by_verdict(
    auditor: User, client_as: Login, runs: tuple[EvaluationRun, EvaluationRun]
) -> None:
    run = runs[0]
    url = f"{API}/runs/{run.pk}/results/"
    wrong = client_as(auditor).get(url, {"execution_match": "false"}).json()
    assert wrong["count"] == 2
    assert {r["predicted_sql"] for r in wrong["results"]} == {
        "SELECT name FROM stadium"
    }
    assert {r["difficulty"] for r in wrong["results"]} == {"easy"}


def test_comparison_endpoint_returns_numbers_and_markdown(
    auditor: User, client_as: Login, runs: tuple[EvaluationRun, EvaluationRun]
) -> None:
    champion, challenger = runs
    client = client_as(auditor)
    query = {"champion": champion.pk, "challenger": challenger.pk}
    body = client.get(f"{API}/comparisons/", query).json()
    assert body["mcnemar"] == {
        "fixed": 2,
        "broken": 1,
        "p_value": 1.0,
        "mid_p_value": 0.625,
    }
    assert body["segments"]["difficulty:medium"]["execution_accuracy"][
        "delta_points"
    ] == pytest.approx(-33.333333)
    # Each rate comes with its Wilson 95% interval over that side's n items.
    overall = body["overall"]["execution_accuracy"]
    assert (overall["champion"], overall["challenger"]) == pytest.approx((4 / 6, 5 / 6))
    wilson = overall["wilson_95"]  # rounded to 6 places
    assert wilson["champion"] == pytest.approx(wilson_interval(4, 6), abs=1e-6)
    assert wilson["challenger"] == pytest.approx(wilson_interval(5, 6), abs=1e-6)
    medium = body["segments"]["difficulty:medium"]["execution_accuracy"]["wilson_95"]
    assert medium["champion"] == pytest.approx(wilson_interval(3, 3), abs=1e-6)
    assert medium["champion"][1] == 1.0  # 3 of 3: the bound is exactly 1
    report = client.get(f"{API}/comparisons/", {**query, "format": "md"})
    assert report.status_code == 200
    assert report["Content-Type"].startswith("text/markdown")
    assert (
        "| Execution accuracy | 66.7% (30.0\u201390.3) | 83.3% (43.6\u201397.0) "
        "| +16.7 |"
    ) in report.content.decode()


def test_comparison_refusals_are_400_naming_the_field(
    auditor: User,
    client_as: Login,
    runs: tuple[EvaluationRun, EvaluationRun],
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
    target_db: TargetDatabase,
) -> None:
    client = client_as(auditor)
    champion = runs[0]
    assert (
        "challenger"
        in client.get(f"{API}/comparisons/", {"champion": champion.pk}).json()
    )
    bad = client.get(
        f"{API}/comparisons/", {"champion": "x", "challenger": champion.pk}
    )
    assert bad.status_code == 400 and "champion" in bad.json()
    other_snapshot = snapshot_of(list(champion.snapshot.examples.all())[:2], name="two")
    other = finished_run(champion.prompt_version, model_v1, other_snapshot)
    refused = client.get(
        f"{API}/comparisons/", {"champion": champion.pk, "challenger": other.pk}
    )
    assert refused.status_code == 400
    assert "same snapshot" in refused.json()["challenger"][0]


def test_alerts_are_listed_for_viewers(
    auditor: User,
    client_as: Login,
    runs: tuple[EvaluationRun, EvaluationRun],
) -> None:
    champion, challenger = runs
    RegressionAlert.objects.create(
        run=challenger,
        champion_run=champion,
        segment="difficulty:medium",
        champion_value=1.0,
        challenger_value=2 / 3,
        drop_points=33.3,
        threshold_points=2.0,
        champion_n=3,
        challenger_n=3,
    )
    body = client_as(auditor).get(f"{API}/alerts/", {"run": challenger.pk}).json()
    assert body["count"] == 1
    assert body["results"][0]["segment"] == "difficulty:medium"
    assert body["results"][0]["template"] == "concerts"


@pytest.mark.parametrize("url", ["runs/", "alerts/", "results"])
def test_list_endpoints_run_constant_queries(
    ml_lead: User,
    client_as: Login,
    runs: tuple[EvaluationRun, EvaluationRun],
    url: str,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    champion, challenger = runs
    for segment in ("overall", "difficulty:easy"):
        RegressionAlert.objects.create(
            run=challenger,
            champion_run=champion,
            segment=segment,
            champion_value=1.0,
            challenger_value=0.5,
            drop_points=50.0,
            threshold_points=2.0,
            champion_n=6,
            challenger_n=6,
        )
    path = f"runs/{champion.pk}/results/" if url == "results" else url
    client = client_as(ml_lead)
    client.get(f"{API}/{path}")  # warms the user's permission cache
    # Count and page; results also read their run once.
    queries = 3 if url == "results" else 2
    for limit in (1, 25):
        with django_assert_num_queries(queries):
            response = client.get(f"{API}/{path}", {"limit": limit})
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(limit, response.json()["count"])
