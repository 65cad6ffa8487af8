"""feedback.otlp without the database: decoding, attribute values, span mapping."""

import gzip
import json

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from feedback.otlp import (
    JSON,
    PROTOBUF,
    OtlpDecodeError,
    decode_request,
    encode_response,
    inflate,
    is_genai,
    map_span,
)


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _text(text: str) -> AnyValue:
    return AnyValue(string_value=text)


def _message(role: str, text: str) -> AnyValue:
    part = AnyValue(
        kvlist_value=KeyValueList(
            values=[_kv("type", _text("text")), _kv("content", _text(text))]
        )
    )
    return AnyValue(
        kvlist_value=KeyValueList(
            values=[
                _kv("role", _text(role)),
                _kv("parts", AnyValue(array_value=ArrayValue(values=[part]))),
            ]
        )
    )


def _span(*attributes: KeyValue) -> Span:
    return Span(
        trace_id=bytes(range(16)),
        span_id=bytes(range(8)),
        start_time_unix_nano=1_764_494_100_000_000_000,
        end_time_unix_nano=1_764_494_100_250_400_000,
        attributes=list(attributes),
    )


def test_structured_messages_give_the_last_user_question() -> None:
    messages = AnyValue(
        array_value=ArrayValue(
            values=[
                _message("system", "You write SQL."),
                _message("user", "How many singers?"),
                _message("assistant", "SELECT count(*) FROM singer"),
                _message("user", "And older than 30?"),
            ]
        )
    )
    mapped = map_span(_span(_kv("gen_ai.input.messages", messages)), {})

    assert mapped.event["question"] == "And older than 30?"
    assert mapped.event["server_latency_ms"] == 250
    assert mapped.event["occurred_at"] == "2025-11-30T09:15:00+00:00"
    assert mapped.event["trace_id"] == bytes(range(16)).hex()
    assert mapped.span_ref == f"{bytes(range(16)).hex()}/{bytes(range(8)).hex()}"


def test_flat_prompt_and_completion_attributes_are_read() -> None:
    mapped = map_span(
        _span(
            _kv("gen_ai.prompt.0.role", _text("system")),
            _kv("gen_ai.prompt.0.content", _text("You write SQL.")),
            _kv("gen_ai.prompt.1.role", _text("user")),
            _kv("gen_ai.prompt.1.content", _text("Oldest singer?")),
            _kv("gen_ai.completion.0.role", _text("assistant")),
            _kv("gen_ai.completion.0.content", _text("```\nSELECT 1\n```")),
            _kv("gen_ai.usage.completion_tokens", AnyValue(int_value=4)),
        ),
        {},
    )

    assert mapped.event["question"] == "Oldest singer?"
    assert mapped.event["generated_sql"] == "SELECT 1"
    assert mapped.event["output_tokens"] == 4


def test_span_attributes_win_over_resource_attributes_and_ids_become_ints() -> None:
    mapped = map_span(
        _span(
            _kv("gen_ai.operation.name", _text("chat")),
            _kv("loopgate.tenant_id", _text("span-tenant")),
            _kv("loopgate.prompt_version", _text("12")),
            _kv("loopgate.model_version", AnyValue(int_value=3)),
            _kv(
                "loopgate.retrieval_ids",
                AnyValue(array_value=ArrayValue(values=[_text("d-1")])),
            ),
        ),
        {"loopgate.tenant_id": "resource-tenant", "user.id": "u-1"},
    )

    event = mapped.event
    assert (event["tenant_id"], event["user_id"]) == ("span-tenant", "u-1")
    assert (event["prompt_version"], event["model_version"]) == (12, 3)
    assert event["retrieval_ids"] == ["d-1"]
    assert event["outcome"] == "not_executed"


def test_only_spans_with_gen_ai_attributes_or_events_are_genai() -> None:
    assert not is_genai(_span(_kv("http.route", _text("/ask"))))
    assert is_genai(_span(_kv("gen_ai.system", _text("openai"))))
    with_event = _span()
    with_event.events.add(name="gen_ai.content.prompt")
    assert is_genai(with_event)


def test_otlp_json_hex_ids_decode_to_the_same_bytes() -> None:
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": bytes(range(16)).hex(),
                                "spanId": bytes(range(8)).hex(),
                                "parentSpanId": "",
                                "unknownField": 1,
                            }
                        ]
                    }
                ]
            }
        ]
    }
    request = decode_request(json.dumps(body).encode(), media_type=JSON)

    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id == bytes(range(16))
    assert span.span_id == bytes(range(8))


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe",
        b"null",
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": 5}]}]}]}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": []}]}]}]}',
        b"[" * 10_000 + b"]" * 10_000,
    ],
)
def test_json_that_is_no_trace_export_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(OtlpDecodeError):
        decode_request(body, media_type=JSON)


def test_protobuf_garbage_is_a_decode_error() -> None:
    with pytest.raises(OtlpDecodeError):
        decode_request(b"\x0a\xff\xff\xff\xff\x0f", media_type=PROTOBUF)


def test_responses_carry_partial_success_only_when_there_is_news() -> None:
    assert encode_response(rejected=0, message="", media_type=JSON) == b"{}"
    raw = encode_response(rejected=2, message="bad \ud800", media_type=PROTOBUF)
    response = ExportTraceServiceResponse.FromString(raw)
    assert response.partial_success.rejected_spans == 2
    assert response.partial_success.error_message == "bad \\ud800"


def test_inflating_stops_at_the_limit() -> None:
    assert inflate(gzip.compress(b"abc"), encoding="gzip", limit=3) == b"abc"
    with pytest.raises(OverflowError):
        inflate(gzip.compress(b"abcd"), encoding="gzip", limit=3)
    with pytest.raises(OtlpDecodeError):
        inflate(b"abc", encoding="deflate", limit=3)
