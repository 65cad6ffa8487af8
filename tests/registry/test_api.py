from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.services import create_prompt_version, register_model_version
from tests.helpers import TEMPLATE_TEXT

pytestmark = pytest.mark.django_db

API = "/api/v1/registry"


def test_anonymous_requests_are_refused(api_client: APIClient) -> None:
    for url in ["templates/", "prompt-versions/", "model-versions/", "labels/"]:
        assert api_client.get(f"{API}/{url}").status_code == 401


def test_list_needs_the_view_permission(
    make_user: Callable[..., User], client_as: Callable[[User], APIClient]
) -> None:
    nobody = make_user("nobody")
    assert client_as(nobody).get(f"{API}/templates/").status_code == 403


def test_create_prompt_version_through_the_api(
    prompt_v1: PromptVersion, ml_lead: User, client_as: Callable[[User], APIClient]
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/prompt-versions/",
        {
            "template": "concerts",
            "template_text": TEMPLATE_TEXT,
            "few_shot_examples": [
                {"question": "Stadium names?", "sql": "SELECT name FROM stadium"}
            ],
            "parameters": {},
            "changelog": "Add a stadium example",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["number"], body["parent"], body["author"]) == (2, prompt_v1.pk, "lee")


def test_analyst_cannot_create_versions(
    prompt_v1: PromptVersion, analyst: User, client_as: Callable[[User], APIClient]
) -> None:
    response = client_as(analyst).post(
        f"{API}/prompt-versions/",
        {"template": "concerts", "template_text": "{question}", "changelog": "x"},
        format="json",
    )
    assert response.status_code == 403
    assert PromptVersion.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"template": "nope", "template_text": "{question}", "changelog": "x"},
            "template",
        ),
        ({"template": "concerts", "changelog": "x"}, "template_text"),
        ({"template": "concerts", "template_text": "{question}"}, "changelog"),
        (
            {"template": "concerts", "template_text": "{oops}", "changelog": "x"},
            "template_text",
        ),
        (
            {
                "template": "concerts",
                "template_text": "{question}",
                "changelog": "x",
                "few_shot_examples": [{"question": "q", "sql": "SELECT FROM ((("}],
            },
            "few_shot_examples[0].sql",
        ),
        (
            {
                "template": "concerts",
                "template_text": "{question}",
                "changelog": "x",
                "few_shot_examples": "nope",
            },
            "few_shot_examples",
        ),
    ],
)
def test_bad_prompt_version_input_is_a_400_naming_the_field(
    prompt_v1: PromptVersion,
    ml_lead: User,
    client_as: Callable[[User], APIClient],
    payload: dict[str, object],
    field: str,
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/prompt-versions/", payload, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert PromptVersion.objects.count() == 1


def test_duplicate_prompt_content_is_a_409(
    prompt_v1: PromptVersion, ml_lead: User, client_as: Callable[[User], APIClient]
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/prompt-versions/",
        {
            "template": "concerts",
            "template_text": prompt_v1.template_text,
            "few_shot_examples": prompt_v1.few_shot_examples,
            "parameters": prompt_v1.parameters,
            "changelog": "same again",
        },
        format="json",
    )
    assert response.status_code == 409


def test_versions_have_no_update_or_delete_endpoint(
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    ml_lead: User,
    client_as: Callable[[User], APIClient],
) -> None:
    client = client_as(ml_lead)
    for url in [f"prompt-versions/{prompt_v1.pk}/", f"model-versions/{model_v1.pk}/"]:
        for method in (client.put, client.patch, client.delete):
            assert method(
                f"{API}/{url}", {"changelog": "x"}, format="json"
            ).status_code in (
                403,
                405,
            )
    prompt_v1.refresh_from_db()
    assert prompt_v1.changelog == "First version"


def test_create_template_and_model_version(
    target_db: object, ml_lead: User, client_as: Callable[[User], APIClient]
) -> None:
    client = client_as(ml_lead)
    response = client.post(
        f"{API}/templates/",
        {"name": "sales", "risk_tier": 3, "target_database": "concert_singer"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["owner"] == "lee"
    bad = client.post(
        f"{API}/templates/",
        {"name": "x", "risk_tier": 4, "target_database": "missing"},
        format="json",
    )
    assert bad.status_code == 400
    assert {"risk_tier", "target_database"} <= set(bad.json())
    model = client.post(
        f"{API}/model-versions/",
        {
            "name": "gpt-east",
            "provider": "openai",
            "model_identifier": "gpt-4o-mini",
            "endpoint_name": "AZURE_EAST",
            "generation_parameters": {"temperature": 0},
        },
        format="json",
    )
    assert model.status_code == 201, model.json()
    assert len(model.json()["content_hash"]) == 64


def test_diff_between_versions(
    prompt_v1: PromptVersion, ml_lead: User, client_as: Callable[[User], APIClient]
) -> None:
    v2 = create_prompt_version(
        template=prompt_v1.template,
        template_text=TEMPLATE_TEXT + "\nAnswer with SQL only.",
        few_shot_examples=[
            {"question": "Stadiums?", "sql": "SELECT name FROM stadium"}
        ],
        parameters={"max_examples": 4},
        changelog="v2",
        author=ml_lead,
    )
    client = client_as(ml_lead)
    body = client.get(f"{API}/prompt-versions/{v2.pk}/diff/").json()
    assert body["old"] == prompt_v1.pk
    assert "+Answer with SQL only." in body["template_text"]
    assert body["few_shot_examples"]["added"] == [
        {"question": "Stadiums?", "sql": "SELECT name FROM stadium"}
    ]
    assert body["few_shot_examples"]["removed"][0]["question"] == "How many singers?"
    assert body["parameters"] == {"max_examples": {"old": 2, "new": 4}}
    assert (
        client.get(f"{API}/prompt-versions/{v2.pk}/diff/?against=x").status_code == 400
    )
    assert client.get(f"{API}/prompt-versions/{prompt_v1.pk}/diff/").status_code == 400
    assert client.get(f"{API}/prompt-versions/999/diff/").status_code == 404


def test_resolve_returns_the_ids_to_echo(
    production: Label, analyst: User, client_as: Callable[[User], APIClient]
) -> None:
    client = client_as(analyst)
    body = client.get(f"{API}/resolve/?template=concerts&session_id=abc").json()
    assert body["serve"] == {
        "label": "production",
        "prompt_version": production.prompt_version_id,
        "prompt_version_number": 1,
        "model_version": production.model_version_id,
        "model_version_name": "knn-1",
    }
    assert body["shadow"] is None
    missing = client.get(f"{API}/resolve/?template=concerts")
    assert missing.status_code == 400
    assert "session_id" in missing.json()
    assert client.get(f"{API}/resolve/?template=nope&session_id=a").status_code == 404


def test_resolve_without_production_is_a_409(
    template: PromptTemplate, analyst: User, client_as: Callable[[User], APIClient]
) -> None:
    response = client_as(analyst).get(f"{API}/resolve/?template=concerts&session_id=a")
    assert response.status_code == 409


def test_filtering_lists(
    prompt_v1: PromptVersion,
    model_v1: ModelVersion,
    ml_lead: User,
    client_as: Callable[[User], APIClient],
) -> None:
    client = client_as(ml_lead)
    assert client.get(f"{API}/prompt-versions/?template=concerts").json()["count"] == 1
    assert client.get(f"{API}/prompt-versions/?template=other").json()["count"] == 0
    assert client.get(f"{API}/model-versions/?provider=openai").json()["count"] == 0
    assert client.get(f"{API}/templates/?risk_tier=2").json()["count"] == 1


@pytest.fixture
def many_rows(production: Label, prompt_v1: PromptVersion, ml_lead: User) -> None:
    for index in range(30):
        create_prompt_version(
            template=prompt_v1.template,
            template_text=TEMPLATE_TEXT,
            few_shot_examples=[],
            parameters={"i": index},
            changelog=f"v{index}",
            author=ml_lead,
        )
        register_model_version(
            name=f"m{index}",
            provider="replay",
            model_identifier=f"replay-{index}",
            generation_parameters={},
            endpoint_name="",
            acting_user=ml_lead,
        )


@pytest.mark.parametrize(
    "url", ["templates/", "prompt-versions/", "model-versions/", "labels/"]
)
def test_list_endpoints_run_constant_queries(
    many_rows: None,
    ml_lead: User,
    client_as: Callable[[User], APIClient],
    url: str,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = client_as(ml_lead)
    client.get(f"{API}/{url}")  # warms the user's permission cache
    for limit in (1, 25):
        with django_assert_num_queries(2):  # count and page, joins included
            response = client.get(f"{API}/{url}?limit={limit}")
        assert response.status_code == 200
        assert len(response.json()["results"]) == min(limit, response.json()["count"])
