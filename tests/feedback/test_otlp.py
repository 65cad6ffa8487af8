"""OTLP/HTTP trace ingestion: GenAI spans from a real OpenTelemetry SDK."""

import gzip
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
import requests
from django.contrib.auth.models import User
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from rest_framework.test import APIClient

from accounts.services import issue_api_token
from feedback.models import Interaction
from feedback.otlp import SPAN_NAMESPACE
from registry.models import Label, ModelVersion, PromptVersion
from registry.services import create_template

URL = "/api/v1/feedback/otlp/v1/traces"
QUESTION = "How many singers does jane.doe@example.com manage?"
SQL = "SELECT count(*) FROM singer"
RESOURCE = {
    "service.name": "sql-assistant",
    "loopgate.tenant_id": "acme",
    "loopgate.consent_scope": "improvement",
    "loopgate.task_type": "adhoc",
}


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


@pytest.fixture
def assistant_key(make_user: Callable[..., User]) -> str:
    user = make_user("assistant-bot", "service_account", "analyst")
    return issue_api_token(user=user, name="assistant", acting_user=None)[1]


@pytest.fixture
def tracer_spans() -> Iterator[Callable[..., Sequence[ReadableSpan]]]:
    """Spans recorded by a real TracerProvider, by what each one sets."""
    providers: list[TracerProvider] = []

    def record(*spans: dict[str, Any]) -> Sequence[ReadableSpan]:
        memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create(RESOURCE))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        providers.append(provider)
        tracer = provider.get_tracer("assistant")
        for attributes in spans:
            start = time.time_ns() - 5_000_000_000
            span = tracer.start_span("chat", attributes=attributes, start_time=start)
            span.end(end_time=start + 610_000_000)
        return memory.get_finished_spans()

    yield record
    for provider in providers:
        provider.shutdown()


def genai(**loopgate: Any) -> dict[str, Any]:
    attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "nearest-example",
        "gen_ai.response.model": "nearest-example",
        "gen_ai.usage.input_tokens": 230,
        "gen_ai.usage.output_tokens": 18,
        "gen_ai.input.messages": _messages("user", QUESTION),
        "gen_ai.output.messages": _messages("assistant", f"```sql\n{SQL}\n```"),
        "loopgate.user_id": "user-17",
    }
    attributes.update({f"loopgate.{k}": v for k, v in loopgate.items()})
    return attributes


def _event_id(span: ReadableSpan) -> uuid.UUID:
    context = span.get_span_context()
    assert context is not None
    ref = f"{context.trace_id:032x}:{context.span_id:016x}"
    return uuid.uuid5(SPAN_NAMESPACE, ref)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_spans_from_the_sdk_exporter_become_interactions_and_reexport_replays(
    live_server: Any,
    production: Label,
    assistant_key: str,
    tracer_spans: Callable[..., Sequence[ReadableSpan]],
    purge_events: None,
) -> None:
    pinned, by_template, plain, pairless = spans = tracer_spans(
        genai(
            prompt_version=production.prompt_version_id,
            model_version=production.model_version_id,
            generated_sql="SELECT count(*) FROM singer WHERE manager = 'x'",
            outcome="success",
        ),
        genai(template="concerts"),
        {"http.route": "/ask"},
        genai(),
    )
    endpoint = f"{live_server.url}{URL}"
    headers = {"Authorization": f"Bearer {assistant_key}"}
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=20)

    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()

    rows = {row.event_id: row for row in Interaction.objects.all()}
    assert set(rows) == {_event_id(pinned), _event_id(by_template)}
    first, second = rows[_event_id(pinned)], rows[_event_id(by_template)]
    assert first.question == "How many singers does [EMAIL] manage?"
    assert "EMAIL" in first.redaction_flags
    assert first.server_latency_ms == 610
    assert (first.input_tokens, first.output_tokens) == (230, 18)
    assert first.reported_model == "nearest-example"
    assert first.generated_sql == "SELECT count(*) FROM singer WHERE manager = 'x'"
    assert first.outcome == "success"
    assert first.trace_id == f"{pinned.get_span_context().trace_id:032x}"  # type: ignore[union-attr]
    assert (first.tenant_id, first.task_type, first.consent_scope) == (
        "acme",
        "adhoc",
        "improvement",
    )
    assert (first.prompt_version_id, first.model_version_id) == (
        production.prompt_version_id,
        production.model_version_id,
    )
    # The production pair of loopgate.template; SQL from the completion's fence.
    assert (second.prompt_version_id, second.model_version_id) == (
        production.prompt_version_id,
        production.model_version_id,
    )
    assert second.generated_sql == SQL
    assert second.outcome == "not_executed"

    # The same spans again, answered in protobuf: a replay, with the rejection
    # of the pair-less span and the skipped plain span reported.
    body = encode_spans(spans).SerializeToString()
    answer = requests.post(
        endpoint,
        data=body,
        headers={**headers, "Content-Type": "application/x-protobuf"},
        timeout=20,
    )
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/x-protobuf"
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 1
    message = response.partial_success.error_message
    assert f"{pairless.get_span_context().span_id:016x}" in message  # type: ignore[union-attr]
    assert "loopgate.template" in message
    assert "1 span skipped: no gen_ai data" in message
    assert Interaction.objects.count() == 2
    assert plain.attributes == {"http.route": "/ask"}

    gzipped = OTLPSpanExporter(
        endpoint=endpoint, headers=headers, timeout=20, compression=Compression.Gzip
    )
    assert gzipped.export(spans) == SpanExportResult.SUCCESS
    gzipped.shutdown()
    assert Interaction.objects.count() == 2


def _json_export(*spans: dict[str, Any], resource: dict[str, str]) -> dict[str, Any]:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": k, "value": {"stringValue": v}}
                        for k, v in resource.items()
                    ]
                },
                "scopeSpans": [{"scope": {"name": "assistant"}, "spans": list(spans)}],
            }
        ]
    }


def _json_span(span_id: str, attributes: dict[str, Any], **extra: Any) -> dict:
    start = time.time_ns() - 60_000_000_000
    values = []
    for key, value in attributes.items():
        if isinstance(value, int):
            values.append({"key": key, "value": {"intValue": str(value)}})
        else:
            values.append({"key": key, "value": {"stringValue": value}})
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_250_000_000),
        "attributes": values,
        **extra,
    }


@pytest.fixture
def otlp_client(assistant_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {assistant_key}")
    return client


def _post(client: APIClient, body: bytes, content_type: str, **extra: str) -> Any:
    return client.generic("POST", URL, body, content_type=content_type, **extra)


@pytest.mark.django_db
def test_otlp_json_with_hex_ids_is_stored_and_answered_in_json(
    production: Label, otlp_client: APIClient
) -> None:
    export = _json_export(
        _json_span(
            "eee19b7ec3c1b174",
            {
                "gen_ai.request.model": "nearest-example",
                "gen_ai.usage.output_tokens": 7,
                "gen_ai.input.messages": _messages("user", "How many singers?"),
                "loopgate.template": "concerts",
                "loopgate.user_id": "user-9",
            },
        ),
        resource=RESOURCE,
    )
    answer = _post(otlp_client, json.dumps(export).encode(), "application/json")

    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"] == "application/json"
    assert json.loads(answer.content) == {}
    row = Interaction.objects.get()
    assert row.trace_id == "5b8efff798038103d269b633813fc60c"
    expected = uuid.uuid5(
        SPAN_NAMESPACE, "5b8efff798038103d269b633813fc60c:eee19b7ec3c1b174"
    )
    assert row.event_id == expected
    assert (row.server_latency_ms, row.output_tokens) == (1250, 7)
    assert row.question == "How many singers?"


@pytest.mark.django_db
def test_spans_without_gen_ai_data_are_skipped_not_rejected(
    otlp_client: APIClient,
) -> None:
    export = _json_export(
        _json_span("0000000000000021", {"http.route": "/ask"}),
        _json_span("0000000000000022", {"loopgate.template": "concerts"}),
        resource=RESOURCE,
    )
    answer = _post(otlp_client, json.dumps(export).encode(), "application/json")

    assert answer.status_code == 200
    partial = json.loads(answer.content)["partialSuccess"]
    assert int(partial.get("rejectedSpans", 0)) == 0
    assert partial["errorMessage"] == "2 spans skipped: no gen_ai data"
    assert not Interaction.objects.exists()


@pytest.mark.django_db
def test_response_id_attribute_is_the_event_id_and_older_prompt_events_count(
    production: Label, otlp_client: APIClient
) -> None:
    response_id = str(uuid.uuid4())
    span = _json_span(
        "00f067aa0ba902b7",
        {
            "gen_ai.system": "openai",
            "loopgate.response_id": response_id,
            "loopgate.template": "concerts",
            "loopgate.user_id": "user-9",
        },
        events=[
            {
                "name": "gen_ai.content.prompt",
                "attributes": [
                    {
                        "key": "gen_ai.prompt",
                        "value": {
                            "stringValue": json.dumps(
                                [
                                    {"role": "system", "content": "Write SQL."},
                                    {"role": "user", "content": "Oldest singer?"},
                                ]
                            )
                        },
                    }
                ],
            },
            {
                "name": "gen_ai.content.completion",
                "attributes": [
                    {
                        "key": "gen_ai.completion",
                        "value": {"stringValue": "SELECT max(age) FROM singer"},
                    }
                ],
            },
        ],
    )
    answer = _post(
        otlp_client,
        json.dumps(_json_export(span, resource=RESOURCE)).encode(),
        "application/json",
    )

    assert answer.status_code == 200, answer.content
    row = Interaction.objects.get()
    assert str(row.event_id) == response_id
    assert row.question == "Oldest singer?"
    assert row.generated_sql == "SELECT max(age) FROM singer"


@pytest.mark.django_db
def test_invalid_fields_are_rejected_by_attribute_name_and_neighbours_stored(
    production: Label, otlp_client: APIClient, make_user: Callable[..., User]
) -> None:
    create_template(
        name="unserved",
        description="",
        owner=make_user("owner"),
        risk_tier=2,
        target_database=production.template.target_database,
        acting_user=None,
    )
    good = {
        "gen_ai.input.messages": _messages("user", "How many singers?"),
        "loopgate.template": "concerts",
        "loopgate.user_id": "user-9",
    }
    export = _json_export(
        _json_span("0000000000000001", good),
        _json_span("0000000000000002", {**good, "loopgate.outcome": "great"}),
        _json_span("0000000000000003", {**good, "loopgate.template": "unserved"}),
        _json_span("0000000000000004", {**good, "loopgate.prompt_version": 1}),
        _json_span("0000000000000005", {**good, "loopgate.user_id": ""}),
        resource={"loopgate.tenant_id": "acme", "loopgate.task_type": "adhoc"},
    )
    answer = _post(otlp_client, json.dumps(export).encode(), "application/json")

    assert answer.status_code == 200
    partial = json.loads(answer.content)["partialSuccess"]
    # Without a consent scope on the resource, every span lacks one.
    assert int(partial["rejectedSpans"]) == 5
    assert "loopgate.consent_scope: This field is required." in partial["errorMessage"]

    export["resourceSpans"][0]["resource"]["attributes"].append(
        {"key": "loopgate.consent_scope", "value": {"stringValue": "service_only"}}
    )
    answer = _post(otlp_client, json.dumps(export).encode(), "application/json")

    partial = json.loads(answer.content)["partialSuccess"]
    message = partial["errorMessage"]
    assert int(partial["rejectedSpans"]) == 4
    assert "0000000000000002: loopgate.outcome: Must be one of" in message
    assert "0000000000000003: loopgate.template: 'unserved' has no production" in (
        message
    )
    assert "0000000000000004: loopgate.model_version: Set both" in message
    assert "0000000000000005: loopgate.user_id: This field is required." in message
    assert Interaction.objects.get().consent_scope == "service_only"


@pytest.mark.django_db
def test_a_template_span_naming_another_model_is_not_credited_to_production(
    production: Label, otlp_client: APIClient
) -> None:
    def span(span_id: str, model: str) -> dict[str, Any]:
        return _json_span(
            span_id,
            {
                "gen_ai.request.model": model,
                "gen_ai.input.messages": _messages("user", "How many singers?"),
                "loopgate.template": "concerts",
                "loopgate.user_id": "user-9",
            },
        )

    export = _json_export(
        span("0000000000000011", "gpt-4.1"),
        span("0000000000000012", "nearest-example-2026-01"),
        resource=RESOURCE,
    )
    answer = _post(otlp_client, json.dumps(export).encode(), "application/json")

    partial = json.loads(answer.content)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert (
        "0000000000000011: gen_ai.response.model: 'gpt-4.1' is not the"
        in (partial["errorMessage"])
    )
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
def test_unknown_pair_ids_are_rejected_like_the_batch_api(
    production: Label, otlp_client: APIClient
) -> None:
    missing = (PromptVersion.objects.count() + ModelVersion.objects.count()) * 100
    span = _json_span(
        "0000000000000009",
        {
            "gen_ai.input.messages": _messages("user", "How many singers?"),
            "loopgate.user_id": "user-9",
            "loopgate.prompt_version": missing,
            "loopgate.model_version": production.model_version_id,
        },
    )
    answer = _post(
        otlp_client,
        json.dumps(_json_export(span, resource=RESOURCE)).encode(),
        "application/json",
    )

    partial = json.loads(answer.content)["partialSuccess"]
    assert int(partial["rejectedSpans"]) == 1
    assert (
        "loopgate.prompt_version: Unknown prompt version id."
        in (partial["errorMessage"])
    )
    assert not Interaction.objects.exists()


@pytest.mark.django_db
def test_gzip_bodies_are_inflated(production: Label, otlp_client: APIClient) -> None:
    span = _json_span(
        "000000000000000a",
        {
            "gen_ai.input.messages": _messages("user", "How many singers?"),
            "loopgate.template": "concerts",
            "loopgate.user_id": "user-9",
        },
    )
    body = gzip.compress(json.dumps(_json_export(span, resource=RESOURCE)).encode())
    answer = _post(otlp_client, body, "application/json", HTTP_CONTENT_ENCODING="gzip")

    assert answer.status_code == 200, answer.content
    assert Interaction.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        (b"\xff\x00garbage\x01\x02", "application/x-protobuf", "body"),
        (b"{not json", "application/json", "body"),
        (b"[1, 2]", "application/json", "body"),
        (b'{"resourceSpans": {"a": 1}}', "application/json", "body"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "application/json",
            "body",
        ),
        (b'{"resourceSpans": [{"resource": 5}]}', "application/json", "body"),
    ],
)
def test_garbage_bodies_are_a_400_naming_the_body(
    otlp_client: APIClient, body: bytes, content_type: str, field: str
) -> None:
    answer = _post(otlp_client, body, content_type)

    assert answer.status_code == 400
    assert answer["Content-Type"] == "application/json"
    assert field in answer.json()


@pytest.mark.django_db
def test_other_media_types_and_encodings_are_refused(otlp_client: APIClient) -> None:
    assert _post(otlp_client, b"a=1", "text/plain").status_code == 415
    bad_gzip = _post(
        otlp_client, b"not gzip", "application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert bad_gzip.status_code == 400
    assert "gzip" in bad_gzip.json()["body"][0]
    brotli = _post(otlp_client, b"{}", "application/json", HTTP_CONTENT_ENCODING="br")
    assert brotli.status_code == 400


@pytest.mark.django_db
def test_a_gzip_bomb_is_a_413(otlp_client: APIClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    bomb = gzip.compress(b" " * 1_000_000)
    assert len(bomb) < 10_000
    answer = _post(otlp_client, bomb, "application/json", HTTP_CONTENT_ENCODING="gzip")

    assert answer.status_code == 413
    assert answer.json()["code"] == "too_large"


@pytest.mark.django_db
def test_callers_need_a_key_with_add_interaction(
    api_client: APIClient, make_user: Callable[..., User]
) -> None:
    export = json.dumps(_json_export(resource=RESOURCE)).encode()
    answer = api_client.generic("POST", URL, export, content_type="application/json")
    assert answer.status_code == 401
    reader = make_user("reader", "auditor")
    _, key = issue_api_token(user=reader, name="reader", acting_user=reader)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    answer = api_client.generic("POST", URL, export, content_type="application/json")
    assert answer.status_code == 403
    assert not Interaction.objects.exists()
