"""OTLP/HTTP traces: decode requests, map GenAI spans to interaction events.

Django-free. A GenAI span (any `gen_ai.*` attribute or event) becomes one raw
interaction event, as the batch API takes it, so that validation, redaction and
idempotency stay in feedback.ingestion. `loopgate.*` attributes are read from
the span first, then from its resource. The event id is `loopgate.response_id`
when set, else a UUID derived from the trace and span ids, so a re-export of a
span is a replay.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from config.json_input import JSONTooDeep, loads_bounded

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# Spans of one trace and span id map to one event id in this namespace.
SPAN_NAMESPACE = uuid.UUID("5b0c3f0e-61a4-4c52-9c55-7f1e8d3a2b10")
# The generation span says nothing about running the SQL unless told.
DEFAULT_OUTCOME = "not_executed"

# Event field -> the attributes it is read from, first found wins.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "session_id": ("loopgate.session_id", "session.id", "gen_ai.conversation.id"),
    "user_id": ("loopgate.user_id", "user.id", "enduser.id"),
    "analyst_id": ("loopgate.analyst_id",),
    "tenant_id": ("loopgate.tenant_id",),
    "task_type": ("loopgate.task_type",),
    "prompt_version": ("loopgate.prompt_version",),
    "model_version": ("loopgate.model_version",),
    "outcome": ("loopgate.outcome",),
    "consent_scope": ("loopgate.consent_scope",),
    "country": ("loopgate.country",),
    "knowledge_version": ("loopgate.knowledge_version",),
    "retrieval_ids": ("loopgate.retrieval_ids",),
}
# What an error on an event field is reported as: the attribute to fix.
FIELD_SOURCES: dict[str, str] = {
    **{name: sources[0] for name, sources in ATTRIBUTES.items()},
    "event_id": "loopgate.response_id",
    "question": "gen_ai.input.messages",
    "generated_sql": "loopgate.generated_sql",
    "output_tokens": "gen_ai.usage.output_tokens",
    "input_tokens": "gen_ai.usage.input_tokens",
    "reported_model": "gen_ai.response.model",
    "server_latency_ms": "span duration",
    "occurred_at": "span start time",
    "trace_id": "trace id",
}
PAIR = ("prompt_version", "model_version")


class OtlpDecodeError(Exception):
    """The body is not an OTLP trace export in the encoding it claims."""


@dataclass(slots=True)
class MappedSpan:
    """One GenAI span as a raw interaction event, or why it cannot be one."""

    span_ref: str
    event: dict[str, Any]
    template: str = ""
    problem: str = ""
    # gen_ai.response.model, else gen_ai.request.model.
    model: str = ""


@dataclass(slots=True)
class MappedRequest:
    spans: list[MappedSpan] = field(default_factory=list)
    skipped: int = 0


# --- decoding -----------------------------------------------------------------


def inflate(body: bytes, *, encoding: str, limit: int) -> bytes:
    """The body without its Content-Encoding; at most ``limit`` bytes once
    inflated (a small gzip body can expand a thousandfold)."""
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise OtlpDecodeError(f"Unsupported Content-Encoding {encoding!r}.")
    inflater = zlib.decompressobj(wbits=31)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise OtlpDecodeError("The body is not valid gzip.") from None
    if len(data) > limit:
        raise OverflowError(limit)
    return data


def decode_request(body: bytes, *, media_type: str) -> ExportTraceServiceRequest:
    """Parse an ExportTraceServiceRequest from protobuf or OTLP JSON bytes."""
    request = ExportTraceServiceRequest()
    if media_type == PROTOBUF:
        try:
            request.ParseFromString(body)
        except (DecodeError, RecursionError, ValueError):
            raise OtlpDecodeError("Not a protobuf ExportTraceServiceRequest.") from None
        return request
    try:
        data = loads_bounded(body.decode())
    except (UnicodeDecodeError, ValueError, JSONTooDeep, RecursionError):
        raise OtlpDecodeError("Not valid JSON.") from None
    if not isinstance(data, dict):
        raise OtlpDecodeError("The JSON body must be an object.")
    try:
        _hex_ids_to_base64(data)
        # Receivers must ignore fields they do not know (OTLP spec).
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, AttributeError, RecursionError) as e:
        raise OtlpDecodeError(f"Not an OTLP JSON trace export: {str(e)[:200]}") from e
    return request


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP JSON writes trace and span ids in hex; protobuf JSON expects base64."""
    for spans in _dicts(data, "resourceSpans", "resource_spans"):
        for scope in _dicts(spans, "scopeSpans", "scope_spans"):
            for span in _dicts(scope, "spans"):
                _convert_ids(span)
                for link in _dicts(span, "links"):
                    _convert_ids(link)


def _dicts(parent: dict[str, Any], *names: str) -> Iterator[dict[str, Any]]:
    for name in names:
        items = parent.get(name)
        if items is None:
            continue
        if not isinstance(items, list):
            raise OtlpDecodeError(f"{name} must be a list.")
        for item in items:
            if not isinstance(item, dict):
                raise OtlpDecodeError(f"Each item of {name} must be an object.")
            yield item


def _convert_ids(item: dict[str, Any]) -> None:
    for camel, snake in (
        ("traceId", "trace_id"),
        ("spanId", "span_id"),
        ("parentSpanId", "parent_span_id"),
    ):
        for name in (camel, snake):
            value = item.get(name)
            if value in (None, ""):
                continue
            if not isinstance(value, str):
                raise OtlpDecodeError(f"{camel} must be a hex string.")
            try:
                raw = binascii.unhexlify(value)
            except (binascii.Error, ValueError):
                raise OtlpDecodeError(f"{camel} must be a hex string.") from None
            item[name] = base64.b64encode(raw).decode()


def encode_response(*, rejected: int, message: str, media_type: str) -> bytes:
    """ExportTraceServiceResponse, partial_success set only when there is news."""
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        # Messages may quote input back: nothing unencodable reaches the wire.
        safe = message.encode("utf-8", "backslashreplace").decode("utf-8")
        response.partial_success.error_message = safe
    if media_type == PROTOBUF:
        return response.SerializeToString()
    return json_format.MessageToJson(response, indent=None).encode()


# --- mapping ------------------------------------------------------------------


def map_request(request: ExportTraceServiceRequest) -> MappedRequest:
    """Every GenAI span of the request as an event; other spans only counted."""
    mapped = MappedRequest()
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if not is_genai(span):
                    mapped.skipped += 1
                    continue
                mapped.spans.append(map_span(span, resource))
    return mapped


def is_genai(span: Span) -> bool:
    return any(kv.key.startswith("gen_ai.") for kv in span.attributes) or any(
        event.name.startswith("gen_ai.") for event in span.events
    )


def map_span(span: Span, resource: Mapping[str, Any]) -> MappedSpan:
    """The raw interaction event of one GenAI span (validated later, by field)."""
    own = attributes(span.attributes)
    found = {**resource, **own}
    trace, span_id = span.trace_id.hex(), span.span_id.hex()
    event: dict[str, Any] = {
        "event_id": found.get("loopgate.response_id")
        or str(uuid.uuid5(SPAN_NAMESPACE, f"{trace}:{span_id}")),
        "trace_id": trace or None,
    }
    for name, sources in ATTRIBUTES.items():
        value = next((found[s] for s in sources if found.get(s) is not None), None)
        if value is not None:
            event[name] = value
    for name in PAIR:
        if isinstance(event.get(name), str) and event[name].isdigit():
            event[name] = int(event[name])
    event.setdefault("outcome", DEFAULT_OUTCOME)
    question, completion = _messages(span, own)
    event["question"] = question
    sql = found.get("loopgate.generated_sql")
    event["generated_sql"] = sql if sql is not None else _unfence(completion)
    tokens = own.get("gen_ai.usage.output_tokens")
    if tokens is None:
        tokens = own.get("gen_ai.usage.completion_tokens")
    if tokens is not None:
        event["output_tokens"] = tokens
    prompt_tokens = own.get("gen_ai.usage.input_tokens")
    if prompt_tokens is None:
        prompt_tokens = own.get("gen_ai.usage.prompt_tokens")
    if prompt_tokens is not None:
        event["input_tokens"] = prompt_tokens
    if span.end_time_unix_nano >= span.start_time_unix_nano > 0:
        duration = span.end_time_unix_nano - span.start_time_unix_nano
        event["server_latency_ms"] = round(duration / 1_000_000)
    event["occurred_at"] = datetime.fromtimestamp(
        span.start_time_unix_nano / 1e9, UTC
    ).isoformat()
    template = found.get("loopgate.template")
    model = own.get("gen_ai.response.model") or own.get("gen_ai.request.model")
    if isinstance(model, str) and model:
        event["reported_model"] = model
    return MappedSpan(
        span_ref=f"{trace}/{span_id}",
        event=event,
        template=template if isinstance(template, str) else "",
        model=model if isinstance(model, str) else "",
    )


def attributes(items: Any) -> dict[str, Any]:
    """OTLP key-values as plain Python values (the last of a repeated key wins)."""
    return {kv.key: value(kv.value) for kv in items if isinstance(kv, KeyValue)}


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [value(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return attributes(any_value.kvlist_value.values)
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind)


def _messages(span: Span, own: Mapping[str, Any]) -> tuple[str, str]:
    """The last user message and the first output text of a GenAI span.

    Current semantic conventions put `gen_ai.input.messages` and
    `gen_ai.output.messages` on the span; older instrumentations use events
    `gen_ai.content.prompt`/`gen_ai.content.completion` (attributes
    `gen_ai.prompt`/`gen_ai.completion`) or flat `gen_ai.prompt.N.content`.
    """
    inputs = own.get("gen_ai.input.messages")
    outputs = own.get("gen_ai.output.messages")
    for event in span.events:
        found = attributes(event.attributes)
        if inputs is None and "gen_ai.prompt" in found:
            inputs = found["gen_ai.prompt"]
        if outputs is None and "gen_ai.completion" in found:
            outputs = found["gen_ai.completion"]
    if inputs is None:
        inputs = _flat(own, "gen_ai.prompt")
    if outputs is None:
        outputs = _flat(own, "gen_ai.completion")
    question = _texts(inputs, role="user")
    completion = _texts(outputs, role="assistant")
    return (question[-1] if question else ""), (completion[0] if completion else "")


def _flat(own: Mapping[str, Any], prefix: str) -> list[dict[str, Any]] | None:
    found = []
    index = 0
    while f"{prefix}.{index}.content" in own:
        role = own.get(f"{prefix}.{index}.role", "")
        found.append({"role": role, "content": own[f"{prefix}.{index}.content"]})
        index += 1
    return found or None


def _texts(messages: Any, *, role: str) -> list[str]:
    """Texts of the messages in ``role`` (or with no role), in order."""
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except ValueError:
            return [messages]
    if isinstance(messages, dict):
        messages = [messages]
    if not isinstance(messages, list):
        return []
    texts = []
    for message in messages:
        if isinstance(message, str):
            texts.append(message)
            continue
        if not isinstance(message, dict) or message.get("role", role) not in (
            role,
            "",
        ):
            continue
        text = _content(message)
        if text:
            texts.append(text)
    return texts


def _content(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = message.get("parts", content)
    if not isinstance(parts, list):
        return ""
    return "\n".join(
        str(part.get("content") or part.get("text") or "")
        for part in parts
        if isinstance(part, dict) and part.get("type", "text") == "text"
    ).strip()


def _unfence(text: str) -> str:
    """SQL from a completion that wraps it in a Markdown code fence."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        body = stripped[3:-3]
        first, _, rest = body.partition("\n")
        return (rest if first.strip().isalpha() or not first.strip() else body).strip()
    return text
