"""The read-only API over retraining cycles and dataset snapshots, on cycles run
through `governance.cycle.run_cycle`."""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation.models import GoldenSetSnapshot
from governance.cycle.models import (
    DatasetSnapshot,
    RetrainingCycle,
)
from registry.models import Label, PromptTemplate
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import (
    PAIRS,
    approve_spider,
    correct_paraphrases,
    cycle,
    golden_snapshot,
)

pytestmark = pytest.mark.django_db
API = "/api/v1/governance"
READS = ["cycles/", "cycles/1/", "datasets/", "datasets/1/"]
WRITE_METHODS = ["post", "put", "patch", "delete"]
# Stadium questions: approving one of them alone is too little data to retrain.
UNRELATED = [14, 16, 18]


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def goldens(target_db: TargetDatabase, production: Label) -> GoldenSetSnapshot:
    return golden_snapshot(target_db, [golden for golden, _ in PAIRS])


def deferred_cycle(
    template: PromptTemplate, client_user: User, senior: User, index: int
) -> RetrainingCycle:
    """A cycle on one more approved correction: a new dataset, decided defer."""
    approve_spider(template, client_user, senior, index)
    run = cycle(template, None).cycle
    assert run.decision.decision == "defer"
    return run


@pytest.fixture
def retrained(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> RetrainingCycle:
    correct_paraphrases(production.template, client_user, senior)
    run = cycle(production.template, ml_lead).cycle
    assert run.decision.decision == "retrain" and run.promotion_request is not None
    return run


@pytest.mark.parametrize("path", READS)
def test_anonymous_callers_get_401(api_client: APIClient, path: str) -> None:
    assert api_client.get(f"{API}/{path}").status_code == 401


@pytest.mark.parametrize("path", READS)
def test_analysts_without_the_cycle_view_permissions_get_403(
    client_as: Callable[[User], APIClient], analyst: User, path: str
) -> None:
    assert not analyst.has_perm("governance.view_retrainingcycle")
    assert client_as(analyst).get(f"{API}/{path}").status_code == 403


@pytest.mark.parametrize("path", ["cycles/999/", "datasets/999/"])
def test_unknown_cycles_and_datasets_are_404(
    client_as: Callable[[User], APIClient], auditor: User, path: str
) -> None:
    assert client_as(auditor).get(f"{API}/{path}").status_code == 404


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"started_after": "last tuesday"}, "started_after"),
        ({"started_before": "2024-13-45"}, "started_before"),
        ({"status": "paused"}, "status"),
        ({"decision": "maybe"}, "decision"),
        ({"trigger": "whim"}, "trigger"),
    ],
)
def test_a_malformed_cycle_filter_is_400_naming_it(
    client_as: Callable[[User], APIClient],
    auditor: User,
    params: dict[str, str],
    field: str,
) -> None:
    response = client_as(auditor).get(f"{API}/cycles/", params)
    assert response.status_code == 400 and field in response.json()


def test_auditors_read_a_retrain_cycle_with_its_steps_and_links(
    client_as: Callable[[User], APIClient],
    auditor: User,
    retrained: RetrainingCycle,
) -> None:
    response = client_as(auditor).get(f"{API}/cycles/{retrained.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert (body["template"], body["status"], body["requested_by"]) == (
        "concerts",
        "completed",
        "lee",
    )
    assert body["dataset"] == {
        "id": retrained.dataset_id,
        "content_hash": retrained.dataset.content_hash,
    }
    assert body["challenger_prompt"] == retrained.challenger_prompt_id
    assert body["champion_prompt"] == retrained.champion_prompt_id
    assert body["champion_run"] == retrained.champion_run_id
    assert body["challenger_run"] == retrained.challenger_run_id
    assert body["golden_snapshot"] == retrained.golden_snapshot_id
    assert body["decision"]["id"] == retrained.decision_id
    assert body["decision"]["sequence"] == retrained.decision.sequence
    assert body["decision"]["decision"] == "retrain"
    assert body["promotion_request"] == retrained.promotion_request_id
    assert body["started_at"] and body["finished_at"]
    assert [s["name"] for s in body["steps"]] == [
        "collect",
        "validate",
        "build",
        "evaluate",
        "decide",
    ]
    # The numbers come back exactly as the cycle recorded them.
    assert [s["numbers"] for s in body["steps"]] == [
        s["numbers"] for s in retrained.steps
    ]
    assert any(s["numbers"] for s in body["steps"])
    assert all(s["status"] == "ok" for s in body["steps"])
    # The decision entry the cycle links to is the one the decision log serves.
    entry = client_as(auditor).get(f"{API}/decisions/{body['decision']['sequence']}/")
    assert entry.json()["data_snapshot_hash"] == body["dataset"]["content_hash"]


def test_cycle_filters_select_by_template_status_decision_and_start(
    client_as: Callable[[User], APIClient],
    auditor: User,
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    template = production.template
    deferred = deferred_cycle(template, client_user, senior, UNRELATED[0])
    correct_paraphrases(template, client_user, senior)
    retrained = cycle(template, ml_lead).cycle
    assert retrained.decision.decision == "retrain"
    client = client_as(auditor)

    def ids(**params: str) -> list[int]:
        response = client.get(f"{API}/cycles/", params)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids() == [retrained.pk, deferred.pk]
    assert ids(template="concerts") == [retrained.pk, deferred.pk]
    assert ids(template="elsewhere") == []
    assert ids(decision="retrain") == [retrained.pk]
    assert ids(decision="defer") == [deferred.pk]
    assert ids(status="completed") == [retrained.pk, deferred.pk]
    assert ids(status="running") == []
    assert ids(trigger="manual") == [retrained.pk, deferred.pk]
    assert ids(started_after=retrained.started_at.isoformat()) == [retrained.pk]
    assert ids(started_before=retrained.started_at.isoformat()) == [deferred.pk]


def test_dataset_detail_shows_the_manifest_but_not_the_rows(
    client_as: Callable[[User], APIClient],
    auditor: User,
    retrained: RetrainingCycle,
) -> None:
    dataset = retrained.dataset
    response = client_as(auditor).get(f"{API}/datasets/{dataset.pk}/")
    assert response.status_code == 200
    body = response.json()
    assert body["manifest"] == dataset.manifest
    assert body["manifest"]["content_hash"] == body["content_hash"]
    assert body["manifest"]["counts"]["rows"] == len(PAIRS)
    assert body["cycles"] == [retrained.pk]
    assert (body["template"], body["created_by"]) == ("concerts", "lee")
    assert "rows" not in body


def test_dataset_list_filters_by_template_and_hash_without_manifests(
    client_as: Callable[[User], APIClient],
    auditor: User,
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
) -> None:
    template = production.template
    first = deferred_cycle(template, client_user, senior, UNRELATED[0]).dataset
    second = deferred_cycle(template, client_user, senior, UNRELATED[1]).dataset
    client = client_as(auditor)

    def rows(**params: str) -> list[dict[str, object]]:
        response = client.get(f"{API}/datasets/", params)
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    listed = rows()
    assert [row["id"] for row in listed] == [second.pk, first.pk]
    assert listed[0]["previous"] == first.pk
    assert all("manifest" not in row and "rows" not in row for row in listed)
    assert [row["id"] for row in rows(template="elsewhere")] == []
    assert [row["id"] for row in rows(content_hash=first.content_hash)] == [first.pk]


def test_cycle_and_dataset_lists_run_a_constant_number_of_queries(
    client_as: Callable[[User], APIClient],
    auditor: User,
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    template = production.template
    client = client_as(auditor)

    def read(path: str, expected_rows: int) -> None:
        # Count and page; datasets prefetch the cycles that used them.
        with django_assert_num_queries(3 if path == "datasets/" else 2):
            response = client.get(f"{API}/{path}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == expected_rows

    deferred_cycle(template, client_user, senior, UNRELATED[0])
    client.get(f"{API}/cycles/")  # loads the user's permission cache
    for path in ("cycles/", "datasets/"):
        read(path, 1)
    deferred_cycle(template, client_user, senior, UNRELATED[1])
    deferred_cycle(template, client_user, senior, UNRELATED[2])
    # A retrain cycle fills every link (runs, challenger, promotion request).
    correct_paraphrases(template, client_user, senior)
    assert cycle(template, ml_lead).cycle.promotion_request is not None
    for path in ("cycles/", "datasets/"):
        read(path, 4)


@pytest.mark.parametrize("method", WRITE_METHODS)
@pytest.mark.parametrize("role", ["auditor", "ml_lead"])
def test_every_write_method_is_refused_even_to_readers(
    client_as: Callable[[User], APIClient],
    make_user: Callable[..., User],
    retrained: RetrainingCycle,
    method: str,
    role: str,
) -> None:
    client = client_as(make_user(f"{role}-2", role))
    before = (
        list(RetrainingCycle.objects.values()),
        list(DatasetSnapshot.objects.values()),
        AuditEvent.objects.count(),
    )
    paths = [
        "cycles/",
        f"cycles/{retrained.pk}/",
        "datasets/",
        f"datasets/{retrained.dataset_id}/",
    ]
    for path in paths:
        response = getattr(client, method)(
            f"{API}/{path}", {"status": "failed", "manifest": {}}, format="json"
        )
        assert response.status_code == 403, (path, response.status_code)
        assert client.get(f"{API}/{path}").status_code == 200
    after = (
        list(RetrainingCycle.objects.values()),
        list(DatasetSnapshot.objects.values()),
        AuditEvent.objects.count(),
    )
    assert after == before
