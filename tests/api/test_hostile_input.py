"""Standing guard: hostile bodies on every write endpoint answer 4xx with a JSON
body, never 5xx, and change no stored row.

The endpoints are read from the OpenAPI schema (every POST whose body has a
required field), so a new write endpoint is covered without editing this file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.services import issue_api_token
from config.wsgi import application  # noqa: F401 (settings and URLs loaded)
from registry.models import Label

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000
HOSTILE_BODIES: dict[str, str | bytes] = {
    "deep nesting": '{"a": ' + DEEP + "}",
    "deep object": '{"a":' * 2000 + "1" + "}" * 2000,
    "lone surrogate": json.dumps({"name": "a\ud800", "question": "\udfff"}),
    "surrogate key": json.dumps({"\ud800": 1}),
    "NUL": json.dumps({"name": "a\x00b", "sql": "SELECT 1\x00"}),
    "list for text": json.dumps({"name": ["x"], "kind": ["interaction"]}),
    "object for text": json.dumps({"name": {"x": 1}, "type": {"a": "b"}}),
    "huge integer": '{"name": "x", "prompt_version": ' + "9" * 400 + "}",
    "float id": json.dumps({"prompt_version": 1.5, "template": 1.5}),
    "int64 overflow": json.dumps({"example_ids": [2**63], "candidate_run": 2**64}),
    "timestamp overflow": json.dumps({"occurred_at": "0001-01-01T00:00:00+14:00"}),
    "NaN": '{"value": NaN, "name": "x"}',
    "not JSON": "{'name': 'x'",
    "top-level list": "[1, 2, 3]",
    "top-level string": '"x"',
    "invalid UTF-8": b'{"name": "\xff\xfe"}',
}
FORM_BODY = "name=x&prompt_version=1"


def _write_paths() -> list[str]:
    client = APIClient()
    schema = client.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]
    paths = []
    for path, methods in schema["paths"].items():
        body = methods.get("post", {}).get("requestBody")
        if body is None:
            continue
        ref = body["content"]["application/json"]["schema"].get("$ref", "")
        if components.get(ref.rsplit("/", 1)[-1], {}).get("required"):
            paths.append(path)
    return paths


@pytest.fixture(scope="module")
def write_paths(django_db_blocker: Any) -> list[str]:
    with django_db_blocker.unblock():
        found = _write_paths()
    assert len(found) >= 15, found
    return found


def _state() -> str:
    """A digest of every stored row of every model."""
    digest = hashlib.sha256()
    for model in apps.get_models():
        for row in model._base_manager.order_by("pk").values_list():
            digest.update(repr(row).encode())
    return digest.hexdigest()


@pytest.fixture
def root_client(make_user: Callable[..., User], production: Label) -> APIClient:
    root = make_user("root", is_staff=True, is_superuser=True)
    _, key = issue_api_token(user=root, name="hostile", acting_user=root)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _concrete(path: str) -> str:
    # Path parameters point at objects that do not exist: bodies are refused
    # before any lookup, or the lookup is a 404.
    for name in ("{id}", "{pk}", "{name}", "{fmt}"):
        path = path.replace(name, "999999" if name != "{name}" else "nope")
    return path


@pytest.mark.parametrize("body_name", [*HOSTILE_BODIES, "form body"])
def test_hostile_bodies_get_4xx_json_and_change_nothing(
    body_name: str, write_paths: list[str], root_client: APIClient
) -> None:
    before = _state()
    cases = 0
    for path in write_paths:
        if body_name == "form body":
            response = root_client.generic(
                "POST", _concrete(path), FORM_BODY,
                content_type="application/x-www-form-urlencoded",
            )  # fmt: skip
        else:
            response = root_client.generic(
                "POST", _concrete(path), HOSTILE_BODIES[body_name],
                content_type="application/json",
            )  # fmt: skip
        cases += 1
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert response["Content-Type"].startswith("application/json"), path
        assert isinstance(response.json(), dict), path
    assert cases >= 15
    assert _state() == before


@pytest.mark.parametrize(
    "query",
    [
        "limit=9223372036854775808",
        "limit=-1",
        "limit=abc",
        "limit=100000",
        "offset=9223372036854775808",
        "offset=-5",
        "offset=1e3",
        "limit=%00",
    ],
)
def test_bad_pagination_is_a_400_naming_the_parameter(
    query: str, root_client: APIClient
) -> None:
    for path in (
        "/api/v1/feedback/interactions/",
        "/api/v1/registry/templates/",
        "/api/v1/evaluation/golden-examples/",
        "/api/v1/governance/promotions/",
    ):
        response = root_client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query, response.content)
        assert query.split("=")[0] in response.json()


def test_an_oversized_body_is_a_json_413(root_client: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = _state()
    response = root_client.post(
        "/api/v1/feedback/batch/", {"events": [{"x": "y" * 2000}]}, format="json"
    )
    assert response.status_code == 413
    assert "larger than 1000 bytes" in response.json()["detail"]
    assert _state() == before


def test_unknown_api_path_is_a_json_404(client: Any, settings: Any) -> None:
    settings.DEBUG = False
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize(
    ("bound", "status"),
    [
        ("0142-04-26T01:11:52%2B22:02", 200),
        ("2020-01-01T00:00:00-23:59", 200),
        ("0001-01-01T00:00:00%2B14:00", 400),
        ("9999-12-31T23:59:59-14:00", 400),
    ],
)
def test_date_filters_compare_in_utc_or_name_the_parameter(
    bound: str, status: int, root_client: APIClient
) -> None:
    for path, name in (
        ("/api/v1/governance/decisions/", "decided_after"),
        ("/api/v1/governance/cycles/", "started_before"),
    ):
        response = root_client.get(f"{path}?{name}={bound}")
        assert response.status_code == status, (path, response.content)
        if status == 400:
            assert name in response.json()
