"""The OpenAPI schema generates a working client: names, tags, examples, round trip."""

import importlib
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator

from accounts.services import issue_api_token
from config.schema_examples import REQUEST_EXAMPLES
from registry.models import Label

AREAS = {"registry", "feedback", "evaluation", "governance"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)  # type: ignore[no-any-return]


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


def test_operation_ids_are_unique_readable_names_below_the_version(
    schema: dict[str, Any],
) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(schema)]
    assert len(ids) == len(set(ids))
    unreadable = [i for i in ids if not re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", i)]
    assert unreadable == []
    assert not [i for i in ids if i.startswith("v1")]
    assert "feedback_interactions_create" in ids


def test_every_operation_is_tagged_with_its_area(schema: dict[str, Any]) -> None:
    tags = {path: operation.get("tags") for path, _, operation in _operations(schema)}
    assert {tuple(t) for t in tags.values() if t} <= {(area,) for area in AREAS}
    assert all(tags.values())
    for path, tag in tags.items():
        assert path.startswith(f"/api/v1/{tag[0]}/")


def test_every_write_operation_has_an_example_its_own_schema_accepts(
    schema: dict[str, Any],
) -> None:
    checked = set()
    for _, method, operation in _operations(schema):
        body = operation.get("requestBody")
        if method == "get" or body is None:
            continue
        media = body["content"]["application/json"]
        examples = media.get("examples")
        assert examples, f"{operation['operationId']} has no request example"
        validator = Draft202012Validator(
            {**media["schema"], "components": schema["components"]}
        )
        for example in examples.values():
            errors = [e.message for e in validator.iter_errors(example["value"])]
            assert errors == [], operation["operationId"]
        checked.add(operation["operationId"])
    # Every example belongs to an operation that exists.
    assert set(REQUEST_EXAMPLES) == checked


def test_an_example_that_breaks_its_schema_is_caught(schema: dict[str, Any]) -> None:
    media = schema["paths"]["/api/v1/feedback/interactions/"]["post"]["requestBody"]
    schema_of_body = media["content"]["application/json"]["schema"]
    validator = Draft202012Validator(
        {**schema_of_body, "components": schema["components"]}
    )
    example = dict(REQUEST_EXAMPLES["feedback_interactions_create"][1])
    example["outcome"] = "fine"
    del example["question"]
    assert len(list(validator.iter_errors(example))) == 2


def _generate(schema_json: bytes, into: Path) -> Any:
    (into / "schema.json").write_bytes(schema_json)
    done = subprocess.run(  # noqa: S603 (fixed argv: this interpreter)
        [
            sys.executable, "-m", "openapi_python_client", "generate",
            "--path", str(into / "schema.json"), "--meta", "none",
            "--output-path", str(into / "loopgate_api"),
        ],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(into))
    try:
        return importlib.import_module("loopgate_api")
    finally:
        sys.path.remove(str(into))


def _module(package: Any, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.{name}")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_client_generated_from_the_live_schema_round_trips_an_interaction(
    live_server: Any,
    production: Label,
    make_user: Any,
    auditor: User,
    tmp_path: Path,
) -> None:
    import httpx

    served = httpx.get(f"{live_server.url}/api/schema/?format=json", timeout=30)
    assert served.status_code == 200
    api = _generate(served.content, tmp_path)
    bot = make_user("assistant-bot", "service_account", "analyst")
    _, bot_key = issue_api_token(user=bot, name="assistant", acting_user=None)
    _, auditor_key = issue_api_token(user=auditor, name="audit", acting_user=auditor)
    with (
        api.AuthenticatedClient(base_url=live_server.url, token=bot_key) as client,
        api.AuthenticatedClient(base_url=live_server.url, token=auditor_key) as reader,
        api.Client(base_url=live_server.url) as anonymous,
    ):
        _round_trip(api, client, reader, anonymous, production)


def _round_trip(
    api: Any, client: Any, reader: Any, anonymous: Any, production: Label
) -> None:
    models = _module(api, "models")
    registry = _module(api, "api.registry")
    feedback = _module(api, "api.feedback")

    resolve = _module(registry, "registry_resolve_retrieve")
    pair = resolve.sync(
        client=client, template=production.template.name, session_id="s-1"
    )
    assert pair.serve.prompt_version == production.prompt_version_id
    assert pair.serve.model_version == production.model_version_id

    create = _module(feedback, "feedback_interactions_create")
    body = models.InteractionInputRequest.from_dict({
        "event_id": str(pair.response_id), "session_id": "s-1", "user_id": "user-17",
        "tenant_id": "acme", "task_type": "adhoc",
        "question": "How many singers are there? Mail ann@example.com",
        "generated_sql": "SELECT count(*) FROM singer",
        "prompt_version": pair.serve.prompt_version,
        "model_version": pair.serve.model_version, "outcome": "success",
        "consent_scope": "improvement", "occurred_at": "2026-11-30T09:15:00Z",
    })  # fmt: skip
    created = create.sync_detailed(client=client, body=body)
    assert created.status_code == 201, created.content
    assert created.parsed is not None
    assert str(created.parsed.event_id) == str(pair.response_id)

    thumb = _module(feedback, "feedback_feedback_create")
    sent = thumb.sync_detailed(
        client=client,
        body=models.FeedbackInputRequest.from_dict(
            {
                "event_id": str(uuid.uuid4()),
                "interaction_id": str(pair.response_id),
                "type": "thumbs_down",
                "occurred_at": "2026-11-30T09:16:00Z",
            }
        ),
    )
    assert sent.status_code == 201, sent.content

    read = _module(feedback, "feedback_interactions_retrieve")
    back = read.sync_detailed(client=reader, id=pair.response_id)
    assert back.status_code == 200, back.content
    stored = json.loads(back.content)
    assert stored["question"] == "How many singers are there? Mail [EMAIL]"
    assert back.parsed.question == stored["question"]
    assert stored["prompt_version"] == production.prompt_version_id

    # A refused call comes back as the documented error, not as nothing.
    refused = create.sync_detailed(client=anonymous, body=body)
    assert refused.status_code == 401
    assert refused.parsed is not None
