"""Governance API: the decision log, retraining triggers and circuit breakers."""

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from governance import (
    breaker,
    chain,
    decisions,
    selectors,
    triggers,
)
from governance.filters import (
    DecisionLogFilter,
    TriggerEventFilter,
)
from governance.models import DecisionLogEntry, TriggerEvent
from governance.serializers import (
    EXPORT_FIELDS,
    CircuitBreakerSerializer,
    DecisionInputSerializer,
    DecisionLogEntrySerializer,
    EventTriggerInputSerializer,
    GovernanceReasonInputSerializer,
    TriggerCheckInputSerializer,
    TriggerEventSerializer,
    VerificationSerializer,
)
from registry.models import PromptTemplate


class DecisionLogListView(generics.ListAPIView):
    required_permission = "governance.view_decisionlogentry"
    write_permission = "governance.add_decisionlogentry"
    serializer_class = DecisionLogEntrySerializer
    filterset_class = DecisionLogFilter

    def get_queryset(self) -> QuerySet[DecisionLogEntry]:
        return selectors.list_decision_log().order_by("-sequence")

    @extend_schema(
        request=DecisionInputSerializer, responses={201: DecisionLogEntrySerializer}
    )
    def post(self, request: Request) -> Response:
        data = DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = decisions.open_decision(**data.validated_data, acting_user=request.user)
        entry = selectors.list_decision_log().get(pk=entry.pk)
        return Response(
            DecisionLogEntrySerializer(entry).data, status=status.HTTP_201_CREATED
        )


class DecisionLogDetailView(generics.RetrieveAPIView):
    required_permission = "governance.view_decisionlogentry"
    serializer_class = DecisionLogEntrySerializer
    lookup_field = "sequence"

    def get_queryset(self) -> QuerySet[DecisionLogEntry]:
        return selectors.list_decision_log()


class _Echo:
    def write(self, value: str) -> str:
        return value


class DecisionLogExportView(generics.GenericAPIView):
    """CSV or JSON Lines of the filtered log, oldest first, with the chain fields."""

    required_permission = "governance.view_decisionlogentry"
    filterset_class = DecisionLogFilter

    def get_queryset(self) -> QuerySet[DecisionLogEntry]:
        return selectors.list_decision_log().order_by("sequence")

    def _rows(self) -> Iterator[dict[str, Any]]:
        for entry in self.filter_queryset(self.get_queryset()).iterator(1000):
            yield dict(DecisionLogEntrySerializer(entry).data)

    @extend_schema(responses={(200, "text/csv"): str})
    def get(self, request: Request, fmt: str) -> HttpResponseBase:
        if fmt == "jsonl":
            lines = (json.dumps(row, sort_keys=True) + "\n" for row in self._rows())
            response = StreamingHttpResponse(lines, content_type="application/jsonl")
        elif fmt == "csv":
            writer = csv.writer(_Echo())

            def csv_lines() -> Iterator[str]:
                yield writer.writerow(EXPORT_FIELDS)
                for row in self._rows():
                    yield writer.writerow(
                        [
                            json.dumps(row[f], sort_keys=True)
                            if isinstance(row[f], dict | list)
                            else row[f]
                            for f in EXPORT_FIELDS
                        ]
                    )

            response = StreamingHttpResponse(csv_lines(), content_type="text/csv")
        else:
            return HttpResponse(
                json.dumps({"format": ["Use csv or jsonl."]}),
                status=400,
                content_type="application/json",
            )
        response["Content-Disposition"] = f'attachment; filename="decision-log.{fmt}"'
        return response


class DecisionLogVerifyView(APIView):
    """Verify the chain now; with `?sequence=&entry_hash=` also against a head."""

    required_permission = "governance.view_decisionlogentry"

    @extend_schema(responses=VerificationSerializer)
    def get(self, request: Request) -> Response:
        params = request.query_params
        head = None
        if "sequence" in params or "entry_hash" in params:
            if not params.get("sequence", "").isdigit():
                return Response({"sequence": ["An integer is required."]}, status=400)
            head = {
                "sequence": int(params["sequence"]),
                "entry_hash": params.get("entry_hash", ""),
            }
        result = chain.verify_chain(expected_head=head)
        return Response(
            {
                "ok": result.ok,
                "entries": result.entries,
                "head": chain.export_head(),
                "verified": result.verified,
                "problems": result.problems,
                "not_covered": result.limits,
            }
        )


class TriggerListView(generics.ListAPIView):
    required_permission = "governance.view_triggerevent"
    write_permission = "governance.add_triggerevent"
    serializer_class = TriggerEventSerializer
    filterset_class = TriggerEventFilter

    def get_queryset(self) -> QuerySet[TriggerEvent]:
        return selectors.list_trigger_events()

    @extend_schema(
        request=EventTriggerInputSerializer, responses={201: TriggerEventSerializer}
    )
    def post(self, request: Request) -> Response:
        data = EventTriggerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        event = triggers.raise_event_trigger(
            **data.validated_data, acting_user=authenticated_user(request)
        )
        event = selectors.list_trigger_events().get(pk=event.pk)
        return Response(
            TriggerEventSerializer(event).data, status=status.HTTP_201_CREATED
        )


class TriggerCheckView(APIView):
    write_permission = "governance.check_triggers"

    @extend_schema(
        request=TriggerCheckInputSerializer, responses=TriggerEventSerializer(many=True)
    )
    def post(self, request: Request) -> Response:
        data = TriggerCheckInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fired = triggers.check_triggers(template=data.validated_data.get("template"))
        events = selectors.list_trigger_events().filter(pk__in=[e.pk for e in fired])
        return Response(TriggerEventSerializer(events, many=True).data)


class CircuitBreakerListView(generics.ListAPIView):
    required_permission = "governance.view_circuitbreaker"
    serializer_class = CircuitBreakerSerializer

    def get_queryset(self) -> QuerySet[Any]:
        return selectors.list_circuit_breakers()


class CircuitBreakerResetView(APIView):
    write_permission = "governance.reset_circuitbreaker"

    @extend_schema(
        request=GovernanceReasonInputSerializer, responses=CircuitBreakerSerializer
    )
    def post(self, request: Request, template: str) -> Response:
        data = GovernanceReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = breaker.reset_circuit_breaker(
            template=get_object_or_404(PromptTemplate, name=template),
            acting_user=authenticated_user(request),
            reason=data.validated_data["reason"],
        )
        return Response(CircuitBreakerSerializer(result).data)
