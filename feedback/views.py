"""Feedback API: ingestion, by API key or widget token, and reading events back."""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from accounts.exceptions import FeedbackTokenError
from accounts.widget_tokens import (
    FeedbackToken,
    read_feedback_token,
)
from config.drf import BoundedJSONParser
from feedback import selectors
from feedback.exceptions import (
    EventConflictError,
    FeedbackError,
)
from feedback.ingestion import (
    CONFLICT,
    CREATED,
    INVALID,
    MAX_BATCH,
    ItemResult,
    cycle_collector_paused,
    ingest_events,
)
from feedback.models import Feedback, Interaction
from feedback.serializers import (
    BatchInputSerializer,
    BatchResultSerializer,
    ConflictSerializer,
    FeedbackInputSerializer,
    FeedbackSerializer,
    InteractionInputSerializer,
    InteractionSerializer,
    WidgetFeedbackInputSerializer,
    WidgetResultSerializer,
)
from registry.models import PromptTemplate

# JSON only: form bodies would turn numbers into strings. Text is checked per
# event field (feedback.events), so one bad event never costs a batch.
INGEST_PARSERS = [BoundedJSONParser]
TOKEN_HEADER = "X-Loopgate-Feedback-Token"  # noqa: S105 (a header name)
WIDGET_TYPES = frozenset(("thumbs_up", "thumbs_down", "comment", "correction"))

INTERACTION_EXAMPLE = {
    "event_id": "6f1c1f2e-5b7a-4c1e-9d55-0b7f3f0a9a11",
    "session_id": "s-42",
    "user_id": "user-1017",
    "tenant_id": "acme",
    "task_type": "adhoc",
    "question": "How many singers are there?",
    "generated_sql": "SELECT count(*) FROM singer",
    "prompt_version": 1,
    "model_version": 1,
    "outcome": "success",
    "consent_scope": "improvement",
    "occurred_at": "2025-01-31T09:15:00Z",
}
FEEDBACK_EXAMPLE = {
    "event_id": "0d7e8c52-1b55-4d3a-a1a1-6d2c6c1c2b33",
    "interaction_id": INTERACTION_EXAMPLE["event_id"],
    "type": "correction",
    "corrected_sql": "SELECT count(DISTINCT singer_id) FROM singer",
    "submitter_role": "analyst",
    "occurred_at": "2025-01-31T09:16:10Z",
}
CONFLICT_RESPONSE = OpenApiResponse(
    ConflictSerializer,
    description="The event id was already stored with another payload; nothing "
    "was stored.",
)
ERROR_RESPONSE = OpenApiResponse(description="Validation errors by field.")


def _single(
    request: Request, kind: str, model: type[Interaction | Feedback], serializer: type
) -> Response:
    result = ingest_events(
        events=[request.data], acting_user=request.user, channel="api", kind=kind
    )[0]
    return _single_response(result, model, serializer)


def _single_response(
    result: ItemResult, model: type[Interaction | Feedback], serializer: type
) -> Response:
    if result.status == INVALID:
        return Response(result.errors, status=status.HTTP_400_BAD_REQUEST)
    if result.status == CONFLICT:
        raise EventConflictError(result.errors["event_id"][0], field="event_id")
    if result.status == CREATED:
        return Response(_represent(serializer, _as_stored(result, model)), status=201)
    row = model.objects.get(pk=result.event_id)  # type: ignore[misc]  # stored results carry their id
    return Response(_represent(serializer, row), status=status.HTTP_200_OK)


@cache
def _representer(serializer: type) -> Any:
    """One instance per serializer class, its fields built once.

    DRF builds a ModelSerializer's fields anew for every instance: that was a
    quarter of a single POST's server time. The event serializers read no
    context and keep no state between calls, so one instance serves them all.
    """
    return serializer()


def _represent(serializer: type, instance: Interaction | Feedback) -> dict[str, Any]:
    return dict(_representer(serializer).to_representation(instance))


def _as_stored(
    result: ItemResult, model: type[Interaction | Feedback]
) -> Interaction | Feedback:
    """The row just inserted, from the values it was inserted with (no read back)."""
    assert result.row is not None  # noqa: S101 (created results carry their row)
    instance = model(**result.row)
    if isinstance(instance, Interaction):
        instance.template = PromptTemplate(
            pk=result.row["template_id"], name=result.template_name
        )
    else:
        # The category the client sent is the feedback's only one so far.
        instance.current_topic = result.topic  # type: ignore[attr-defined]  # read by FeedbackSerializer
    return instance


INGEST_RESPONSES = {
    201: OpenApiResponse(description="Stored."),
    200: OpenApiResponse(description="Replay of a stored event: nothing stored."),
    400: ERROR_RESPONSE,
    409: CONFLICT_RESPONSE,
}


class InteractionListView(generics.ListAPIView):
    required_permission = "feedback.view_interaction"
    write_permission = "feedback.add_interaction"
    parser_classes = INGEST_PARSERS
    serializer_class = InteractionSerializer

    def get_queryset(self) -> QuerySet[Interaction]:
        return selectors.list_interactions()

    @extend_schema(
        request=InteractionInputSerializer,
        responses={**INGEST_RESPONSES, 201: InteractionSerializer},
        examples=[OpenApiExample("interaction", value=INTERACTION_EXAMPLE)],
        description="Record one assistant response. Replaying an event id with the "
        "same payload returns 200 and the stored event; with another payload, 409.",
    )
    def post(self, request: Request) -> Response:
        return _single(request, "interaction", Interaction, InteractionSerializer)


class InteractionDetailView(generics.RetrieveAPIView):
    required_permission = "feedback.view_interaction"
    serializer_class = InteractionSerializer

    def get_queryset(self) -> QuerySet[Interaction]:
        return selectors.list_interactions()


class FeedbackListView(generics.ListAPIView):
    required_permission = "feedback.view_feedback"
    write_permission = "feedback.add_feedback"
    parser_classes = INGEST_PARSERS
    serializer_class = FeedbackSerializer

    def get_queryset(self) -> QuerySet[Feedback]:
        return selectors.list_feedback()

    @extend_schema(
        request=FeedbackInputSerializer,
        responses={**INGEST_RESPONSES, 201: FeedbackSerializer},
        examples=[OpenApiExample("correction", value=FEEDBACK_EXAMPLE)],
        description="Record one feedback event about a stored interaction.",
    )
    def post(self, request: Request) -> Response:
        return _single(request, "feedback", Feedback, FeedbackSerializer)


class EventBatchView(APIView):
    write_permission = "feedback.add_interaction"
    parser_classes = INGEST_PARSERS

    @extend_schema(
        request=BatchInputSerializer,
        responses={200: BatchResultSerializer, 400: ERROR_RESPONSE},
        examples=[
            OpenApiExample(
                "batch",
                value={
                    "events": [
                        {"kind": "interaction", **INTERACTION_EXAMPLE},
                        {"kind": "feedback", **FEEDBACK_EXAMPLE},
                    ]
                },
            )
        ],
        description=f"Up to {MAX_BATCH} events. Each gets a result: created, "
        "duplicate (replay, nothing stored), invalid (errors by field) or conflict "
        "(id stored with another payload). Valid events are stored even when others "
        "fail.",
    )
    def post(self, request: Request) -> Response:
        # Parsing and the results hold as many live objects as ingestion does.
        with cycle_collector_paused():
            return self._post(request)

    def _post(self, request: Request) -> Response:
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not events:
            raise FeedbackError(
                "A non-empty list of events is required.", field="events"
            )
        if len(events) > MAX_BATCH:
            raise FeedbackError(
                f"At most {MAX_BATCH} events per batch.", field="events"
            )
        if not request.user.has_perm("feedback.add_feedback"):
            raise PermissionDenied("Sending feedback events needs add_feedback.")
        results = ingest_events(events=events, acting_user=request.user, channel="api")
        counts = Counter(result.status for result in results)
        # The stubs type iterating a BindingDict as Field; keys() gives the names.
        names = BatchResultSerializer().fields.keys()
        body: dict[str, Any] = {name: counts.get(name, 0) for name in names}
        body["results"] = [result.as_dict() for result in results]
        return Response(body)


class HasFeedbackToken(BasePermission):
    """The widget's credential: a signed, unexpired token for one response."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method == "OPTIONS":
            return True
        token = request.headers.get(TOKEN_HEADER, "")
        if not token:
            raise FeedbackTokenError(f"Send the {TOKEN_HEADER} header.", field="token")
        request.feedback_token = read_feedback_token(token)  # type: ignore[attr-defined]  # read by the view
        return True


class FeedbackTokenThrottle(SimpleRateThrottle):
    """Per response token and client address (settings: `feedback_token`)."""

    scope = "feedback_token"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        token: FeedbackToken | None = getattr(request, "feedback_token", None)
        if token is None:
            return None
        ident = f"{token.response_id.hex}:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class WidgetFeedbackView(APIView):
    """Browser-side feedback without an API key, for the token's response only."""

    authentication_classes: list[type] = []
    permission_classes = [HasFeedbackToken]
    parser_classes = INGEST_PARSERS
    throttle_classes = [FeedbackTokenThrottle]

    @extend_schema(
        request=WidgetFeedbackInputSerializer,
        responses={
            201: WidgetResultSerializer,
            200: WidgetResultSerializer,
            400: ERROR_RESPONSE,
            403: OpenApiResponse(description="Missing, invalid or expired token."),
            409: CONFLICT_RESPONSE,
        },
        parameters=[
            OpenApiParameter(TOKEN_HEADER, str, OpenApiParameter.HEADER, required=True)
        ],
        examples=[
            OpenApiExample(
                "thumbs down",
                value={
                    "event_id": "3c0e7a5e-8f43-4f1e-b1d6-3f0f5d2a7c10",
                    "type": "thumbs_down",
                    "comment": "Counts every singer twice.",
                },
            )
        ],
        auth=[],
    )
    def post(self, request: Request) -> Response:
        token: FeedbackToken = request.feedback_token  # type: ignore[attr-defined]  # set by HasFeedbackToken
        data = dict(request.data) if isinstance(request.data, dict) else None
        if data is None:
            raise FeedbackError("Send a JSON object.", field="non_field_errors")
        given = data.pop("interaction_id", None)
        if given not in (None, str(token.response_id), token.response_id.hex):
            raise FeedbackTokenError(
                "This token is for another response.", field="token"
            )
        if not isinstance(data.get("type"), str) or data["type"] not in WIDGET_TYPES:
            raise FeedbackError(
                f"One of: {', '.join(sorted(WIDGET_TYPES))}.", field="type"
            )
        data.pop("submitter_role", None)
        data.pop("submitter_id", None)
        data["interaction_id"] = str(token.response_id)
        data.setdefault("occurred_at", _now_iso())
        result = ingest_events(
            events=[data], acting_user=None, channel="widget", kind="feedback"
        )[0]
        if result.status in (INVALID, CONFLICT):
            return _single_response(result, Feedback, FeedbackSerializer)
        code = status.HTTP_201_CREATED if result.status == CREATED else 200
        return Response({"event_id": result.event_id, "status": result.status}, code)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        # Token-only, no cookies: any page embedding the widget may call this.
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = f"Content-Type, {TOKEN_HEADER}"
        response["Access-Control-Max-Age"] = "600"
        return super().finalize_response(request, response, *args, **kwargs)


def _now_iso() -> str:
    return timezone.now().isoformat()
