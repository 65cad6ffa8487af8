"""OTLP/HTTP trace receiver: GenAI spans from an OpenTelemetry exporter."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from config.api import too_large_response
from feedback.exceptions import FeedbackError
from feedback.otlp import (
    JSON,
    PROTOBUF,
    OtlpDecodeError,
    decode_request,
    encode_response,
    inflate,
)
from feedback.otlp_ingest import ingest_spans

EXPORT_SCHEMA = {
    "type": "object",
    "description": "An OTLP ExportTraceServiceRequest in OTLP JSON (hex ids).",
    "properties": {"resourceSpans": {"type": "array", "items": {"type": "object"}}},
}
RESPONSE_SCHEMA = {
    "type": "object",
    "description": "ExportTraceServiceResponse; empty when every span was taken.",
    "properties": {
        "partialSuccess": {
            "type": "object",
            "properties": {
                # OTLP JSON writes int64 as a string; OpenAPI 3.0 has no type lists.
                "rejectedSpans": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "errorMessage": {"type": "string"},
            },
        }
    },
}


class FirstRenderer(BaseContentNegotiation):
    """Errors render as JSON whatever the exporter accepts (it sends no Accept
    for JSON errors, and a 406 would hide the real problem)."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: Any, format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type


class OtlpTracesView(APIView):
    """POST /api/v1/feedback/otlp/v1/traces: what an OTLP exporter sends."""

    write_permission = "feedback.add_interaction"
    content_negotiation_class = FirstRenderer

    @extend_schema(
        request={JSON: EXPORT_SCHEMA},
        responses={
            200: OpenApiResponse(
                RESPONSE_SCHEMA,
                description="Taken; rejected spans are counted in partialSuccess.",
            ),
            415: OpenApiResponse(description="Neither protobuf nor JSON."),
        },
        description="OTLP/HTTP trace export (application/x-protobuf or OTLP "
        "application/json; gzip allowed). Each GenAI span becomes an interaction; "
        "other spans are skipped and counted in partialSuccess.errorMessage.",
    )
    def post(self, request: Request) -> HttpResponse:
        media_type = request.content_type.split(";")[0].strip().lower()
        if media_type not in (PROTOBUF, JSON):
            raise UnsupportedMediaType(media_type)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        try:
            body = inflate(request.body, encoding=encoding, limit=limit)
            export = decode_request(body, media_type=media_type)
        except OverflowError:
            return too_large_response()
        except OtlpDecodeError as exc:
            raise FeedbackError(str(exc), field="body") from None
        result = ingest_spans(request=export, acting_user=authenticated_user(request))
        content = encode_response(
            rejected=result.rejected, message=result.message, media_type=media_type
        )
        return HttpResponse(content, content_type=media_type)
