import json
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation.models import EvaluationRun, GoldenSetSnapshot
from governance.breaker import check_circuit_breaker
from governance.decisions import open_decision
from governance.models import (
    DecisionLogEntry,
    PromotionRequest,
)
from governance.promotions import request_promotion
from governance.triggers import raise_event_trigger
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]
API = "/api/v1/governance"

ENDPOINTS = [
    ("get", "decisions/"),
    ("post", "decisions/"),
    ("get", "decisions/1/"),
    ("get", "decisions/export/csv/"),
    ("get", "decisions/verify/"),
    ("get", "promotions/"),
    ("post", "promotions/"),
    ("get", "promotions/1/"),
    ("post", "promotions/1/approve/"),
    ("post", "promotions/1/reject/"),
    ("post", "promotions/1/override/"),
    ("post", "promotions/1/edit/"),
    ("post", "promotions/1/withdraw/"),
    ("get", "promotions/1/release-notes/"),
    ("post", "rollbacks/"),
    ("post", "rollback-requests/"),
    ("get", "triggers/"),
    ("post", "triggers/"),
    ("post", "triggers/check/"),
    ("get", "circuit-breakers/"),
    ("post", "circuit-breakers/concerts/reset/"),
]
WRITES = [(m, p) for m, p in ENDPOINTS if m == "post"]


@pytest.fixture
def candidate(
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
) -> EvaluationRun:
    make_run(production.prompt_version, model_v1, snapshot, summary(0.7))
    return make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.8)
    )


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_callers_get_401(
    api_client: APIClient, method: str, path: str
) -> None:
    assert getattr(api_client, method)(f"{API}/{path}").status_code == 401


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_analysts_without_governance_rights_get_403(
    client_as: Callable[[User], APIClient], analyst: User, method: str, path: str
) -> None:
    response = getattr(client_as(analyst), method)(f"{API}/{path}", {}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_auditors_cannot_change_anything(
    client_as: Callable[[User], APIClient],
    auditor: User,
    candidate: EvaluationRun,
    method: str,
    path: str,
) -> None:
    before = AuditEvent.objects.count()
    response = client_as(auditor).post(f"{API}/{path}", {"reason": "x"}, format="json")
    assert response.status_code == 403
    assert AuditEvent.objects.count() == before


def test_auditors_read_decisions_promotions_and_triggers(
    client_as: Callable[[User], APIClient], auditor: User, template: PromptTemplate
) -> None:
    open_decision(template=template, decision="defer", rationale="r", acting_user=None)
    client = client_as(auditor)
    for path in ("decisions/", "promotions/", "triggers/", "decisions/verify/"):
        assert client.get(f"{API}/{path}").status_code == 200, path


@pytest.mark.parametrize(
    "path",
    [
        "decisions/999/",
        "promotions/999/",
        "promotions/999/release-notes/",
    ],
)
def test_unknown_objects_are_404(
    client_as: Callable[[User], APIClient], ml_lead: User, path: str
) -> None:
    assert client_as(ml_lead).get(f"{API}/{path}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "promotions/999/approve/",
        "promotions/999/override/",
        "circuit-breakers/no/reset/",
    ],
)
def test_commands_on_unknown_objects_are_404(
    client_as: Callable[[User], APIClient], ml_lead: User, path: str
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/{path}", {"reason": "x", "comment": "x"}, format="json"
    )
    assert response.status_code == 404


def test_promotion_through_the_api_end_to_end(
    client_as: Callable[[User], APIClient],
    candidate: EvaluationRun,
    make_user: Callable[..., User],
    ml_lead: User,
) -> None:
    requester = make_user("req", "ml_lead")
    client = client_as(requester)
    created = client.post(
        f"{API}/promotions/",
        {
            "template": "concerts",
            "prompt_version": candidate.prompt_version_id,
            "model_version": candidate.model_version_id,
            "candidate_run": candidate.pk,
            "rationale": "v2 wins",
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["status"] == "pending" and body["gates_passed"] is True
    pk = body["id"]
    own = client.post(f"{API}/promotions/{pk}/approve/", {}, format="json")
    assert own.status_code == 403 and own.json()["code"] == "four_eyes"
    detail = client_as(ml_lead).get(f"{API}/promotions/{pk}/").json()
    assert detail["comparison"]["segments"][0]["segment"] == "overall"
    stale = client_as(ml_lead).post(
        f"{API}/promotions/{pk}/approve/", {"content_hash": "0" * 64}, format="json"
    )
    assert stale.status_code == 409
    approved = client_as(ml_lead).post(
        f"{API}/promotions/{pk}/approve/",
        {"comment": "ok", "content_hash": detail["content_hash"]},
        format="json",
    )
    assert approved.status_code == 200 and approved.json()["status"] == "promoted"
    notes = client_as(ml_lead).get(f"{API}/promotions/{pk}/release-notes/").json()
    assert notes["content"]["approvers"] == [{"username": "lee", "role": "ml_lead"}]
    markdown = client_as(ml_lead).get(f"{API}/promotions/{pk}/release-notes.md")
    assert markdown["Content-Type"] == "text/markdown"
    assert markdown.content.decode().startswith("# Release notes: concerts production")


def test_bad_input_names_the_field(
    client_as: Callable[[User], APIClient], ml_lead: User, candidate: EvaluationRun
) -> None:
    client = client_as(ml_lead)
    missing = client.post(
        f"{API}/decisions/",
        {"template": "concerts", "decision": "retrain"},
        format="json",
    )
    assert missing.status_code == 400 and "rationale" in missing.json()
    wrong = client.post(
        f"{API}/promotions/",
        {
            "template": "concerts",
            "prompt_version": candidate.prompt_version_id,
            "model_version": candidate.model_version_id,
            "candidate_run": 999,
            "rationale": "x",
        },
        format="json",
    )
    assert wrong.status_code == 400 and "candidate_run" in wrong.json()
    assert client.get(f"{API}/decisions/export/xml/").status_code == 400
    assert client.get(f"{API}/decisions/verify/?sequence=x").status_code == 400
    assert not PromotionRequest.objects.exists()


def test_decisions_filter_and_export_with_chain_fields(
    client_as: Callable[[User], APIClient],
    auditor: User,
    ml_lead: User,
    template: PromptTemplate,
) -> None:
    open_decision(
        template=template, decision="defer", rationale="a", acting_user=ml_lead
    )
    open_decision(
        template=template,
        decision="rollback",
        rationale="b",
        acting_user=ml_lead,
        approvers=[{"username": "sam", "role": "ai_safety"}],
    )
    client = client_as(auditor)
    by_decision = client.get(f"{API}/decisions/?decision=defer").json()
    assert [e["rationale"] for e in by_decision["results"]] == ["a"]
    by_approver = client.get(f"{API}/decisions/?approver=sam").json()
    assert [e["sequence"] for e in by_approver["results"]] == [2]
    assert client.get(f"{API}/decisions/?template=other").json()["count"] == 0
    assert (
        client.get(f"{API}/decisions/?decided_after=2000-01-01T00:00:00Z").json()[
            "count"
        ]
        == 2
    )
    jsonl = b"".join(client.get(f"{API}/decisions/export/jsonl/").streaming_content)
    rows = [json.loads(line) for line in jsonl.decode().splitlines()]
    first = DecisionLogEntry.objects.get(sequence=1)
    assert rows[0]["entry_hash"] == first.entry_hash
    assert rows[1]["previous_hash"] == first.entry_hash
    csv_text = b"".join(
        client.get(f"{API}/decisions/export/csv/?decision=rollback").streaming_content
    ).decode()
    header, line = csv_text.strip().splitlines()
    assert header.startswith("sequence,kind,amends_sequence")
    assert line.startswith("2,decision,,concerts")
    verify = client.get(f"{API}/decisions/verify/").json()
    assert verify["ok"] is True and verify["entries"] == 2


QUERIES_PER_LIST = {"decisions/": 2, "promotions/": 3, "triggers/": 3}


def test_list_endpoints_use_a_constant_number_of_queries(
    client_as: Callable[[User], APIClient],
    auditor: User,
    ml_lead: User,
    candidate: EvaluationRun,
    template: PromptTemplate,
    senior: User,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = client_as(auditor)

    def read_every_list() -> None:
        # Count, page, and one prefetch for approvals (promotions) or decisions
        # (triggers): never one query per row.
        for url, queries in QUERIES_PER_LIST.items():
            with django_assert_num_queries(queries):
                assert client.get(f"{API}/{url}").status_code == 200

    raise_event_trigger(template=template, reason="one", acting_user=ml_lead)
    request_promotion(
        template=template,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="r",
        requested_by=senior,
    )
    client.get(f"{API}/decisions/")  # loads the user's permission cache
    read_every_list()
    for index in range(4):
        raise_event_trigger(
            template=template, reason=f"more {index}", acting_user=ml_lead
        )
    PromotionRequest.objects.update(status="withdrawn")
    request_promotion(
        template=template,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="again",
        requested_by=senior,
    )
    read_every_list()


def test_incident_rollback_and_breaker_reset_through_the_api(
    client_as: Callable[[User], APIClient],
    candidate: EvaluationRun,
    template: PromptTemplate,
    safety: User,
    ml_lead: User,
    senior: User,
    ml_lead2: User,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
) -> None:
    request = request_promotion(
        template=template,
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="r",
        requested_by=senior,
    )
    client_as(ml_lead).post(
        f"{API}/promotions/{request.pk}/approve/", {}, format="json"
    )
    no_reason = client_as(safety).post(
        f"{API}/rollbacks/", {"template": "concerts"}, format="json"
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    done = client_as(safety).post(
        f"{API}/rollbacks/",
        {"template": "concerts", "reason": "bad SQL"},
        format="json",
    )
    assert done.status_code == 200, done.json()
    assert done.json()["prompt_version"] != candidate.prompt_version_id
    crash = make_run(
        new_prompt(template, prompt_author(), "v3"), model_v1, snapshot, summary(0.1)
    )
    check_circuit_breaker(template=template, candidate_run=crash)
    listed = client_as(ml_lead).get(f"{API}/circuit-breakers/").json()
    assert listed["results"][0]["halted"] is True
    reset = client_as(ml_lead2).post(
        f"{API}/circuit-breakers/concerts/reset/", {"reason": "fixed"}, format="json"
    )
    assert reset.status_code == 200 and reset.json()["halted"] is False


def test_event_trigger_and_on_demand_check_through_the_api(
    client_as: Callable[[User], APIClient], ml_lead: User, template: PromptTemplate
) -> None:
    client = client_as(ml_lead)
    raised = client.post(
        f"{API}/triggers/",
        {"template": "concerts", "reason": "new regulation", "category": "regulation"},
        format="json",
    )
    assert raised.status_code == 201, raised.json()
    assert raised.json()["decision_sequences"] == [1]
    bad = client.post(f"{API}/triggers/", {"template": "concerts"}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    checked = client.post(
        f"{API}/triggers/check/", {"template": "concerts"}, format="json"
    )
    assert checked.status_code == 200 and checked.json() == []
