import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from governance import (
    amendments,
    breaker,
    chain,
    decisions,
    gates,
    promotions,
    rollbacks,
    selectors,
    triggers,
)
from governance.filters import (
    DecisionLogFilter,
    PromotionRequestFilter,
    TriggerEventFilter,
)
from governance.models import DecisionLogEntry, PromotionRequest, TriggerEvent
from governance.serializers import (
    EXPORT_FIELDS,
    CircuitBreakerSerializer,
    DecisionInputSerializer,
    DecisionLogEntrySerializer,
    EventTriggerInputSerializer,
    GovernanceReasonInputSerializer,
    PromotionEditSerializer,
    PromotionInputSerializer,
    PromotionRequestSerializer,
    ReleaseNoteSerializer,
    ReviewInputSerializer,
    RollbackInputSerializer,
    RolledBackLabelSerializer,
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
        request=DecisionInputSerializer, responses=DecisionLogEntrySerializer
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


class PromotionListView(generics.ListAPIView):
    required_permission = "governance.view_promotionrequest"
    write_permission = "governance.add_promotionrequest"
    serializer_class = PromotionRequestSerializer
    filterset_class = PromotionRequestFilter

    def get_queryset(self) -> QuerySet[PromotionRequest]:
        return selectors.list_promotion_requests()

    @extend_schema(
        request=PromotionInputSerializer, responses=PromotionRequestSerializer
    )
    def post(self, request: Request) -> Response:
        data = PromotionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = promotions.request_promotion(
            **data.validated_data, requested_by=authenticated_user(request)
        )
        return Response(_render(created), status=status.HTTP_201_CREATED)


def _render(obj: PromotionRequest) -> dict[str, Any]:
    return dict(
        PromotionRequestSerializer(
            selectors.list_promotion_requests().get(pk=obj.pk)
        ).data
    )


class PromotionDetailView(generics.RetrieveAPIView):
    required_permission = "governance.view_promotionrequest"
    serializer_class = PromotionRequestSerializer

    def get_queryset(self) -> QuerySet[PromotionRequest]:
        return selectors.list_promotion_requests()

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        obj = self.get_object()
        comparison = gates.compare_runs(obj.candidate_run, obj.champion_run)
        alerts = gates.alerts_for_run(obj.candidate_run)
        return Response(
            {
                **self.get_serializer(obj).data,
                "comparison": comparison,
                "alerts": alerts,
            }
        )


class _PromotionCommand(APIView):
    def target(self, pk: int) -> PromotionRequest:
        return get_object_or_404(PromotionRequest, pk=pk)


class PromotionApproveView(_PromotionCommand):
    write_permission = "governance.approve_promotionrequest"

    @extend_schema(request=ReviewInputSerializer, responses=PromotionRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = promotions.approve_promotion(
            request=self.target(pk),
            approver=authenticated_user(request),
            comment=data.validated_data["comment"],
            seen_hash=data.validated_data.get("content_hash"),
        )
        return Response(_render(obj))


class PromotionRejectView(_PromotionCommand):
    write_permission = "governance.approve_promotionrequest"

    @extend_schema(request=ReviewInputSerializer, responses=PromotionRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = promotions.reject_promotion(
            request=self.target(pk),
            reviewer=authenticated_user(request),
            comment=data.validated_data["comment"],
            seen_hash=data.validated_data.get("content_hash"),
        )
        return Response(_render(obj))


class PromotionOverrideView(_PromotionCommand):
    write_permission = "governance.override_gate"

    @extend_schema(
        request=GovernanceReasonInputSerializer, responses=PromotionRequestSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        data = GovernanceReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = amendments.override_gates(
            request=self.target(pk),
            acting_user=authenticated_user(request),
            reason=data.validated_data["reason"],
            seen_hash=data.validated_data.get("content_hash"),
        )
        return Response(_render(obj))


class PromotionEditView(_PromotionCommand):
    write_permission = "governance.change_promotionrequest"

    @extend_schema(
        request=PromotionEditSerializer, responses=PromotionRequestSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        data = PromotionEditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = amendments.edit_promotion_request(
            request=self.target(pk),
            acting_user=authenticated_user(request),
            **data.validated_data,
        )
        return Response(_render(obj))


class PromotionWithdrawView(_PromotionCommand):
    write_permission = "governance.change_promotionrequest"

    @extend_schema(
        request=GovernanceReasonInputSerializer, responses=PromotionRequestSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        data = GovernanceReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = amendments.withdraw_promotion_request(
            request=self.target(pk),
            acting_user=authenticated_user(request),
            reason=data.validated_data["reason"],
        )
        return Response(_render(obj))


class ReleaseNoteView(APIView):
    required_permission = "governance.view_releasenote"

    @extend_schema(responses=ReleaseNoteSerializer)
    def get(
        self, request: Request, pk: int, fmt: str = "json"
    ) -> Response | HttpResponse:
        note = get_object_or_404(selectors.list_release_notes(), request_id=pk)
        if fmt not in ("json", "md"):
            raise Http404
        if fmt == "md":
            response = HttpResponse(note.markdown, content_type="text/markdown")
            response["Content-Disposition"] = (
                f'attachment; filename="release-notes-{pk}.md"'
            )
            return response
        return Response(ReleaseNoteSerializer(note).data)


class RollbackView(APIView):
    """Incident fast path: one ml_lead or ai_safety holder, with a reason."""

    write_permission = "governance.rollback_label"

    @extend_schema(request=RollbackInputSerializer, responses=RolledBackLabelSerializer)
    def post(self, request: Request) -> Response:
        data = RollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        label = rollbacks.rollback_label(
            **data.validated_data, acting_user=authenticated_user(request)
        )
        return Response(
            {
                "template": label.template.name,
                "label": label.name,
                "prompt_version": label.prompt_version_id,
                "model_version": label.model_version_id,
            }
        )


class RollbackRequestView(APIView):
    """Governed rollback: a request that follows the template's tier rules."""

    write_permission = "governance.add_promotionrequest"

    @extend_schema(
        request=RollbackInputSerializer, responses=PromotionRequestSerializer
    )
    def post(self, request: Request) -> Response:
        data = RollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = rollbacks.request_rollback(
            **data.validated_data, requested_by=authenticated_user(request)
        )
        return Response(_render(obj), status=status.HTTP_201_CREATED)


class TriggerListView(generics.ListAPIView):
    required_permission = "governance.view_triggerevent"
    write_permission = "governance.add_triggerevent"
    serializer_class = TriggerEventSerializer
    filterset_class = TriggerEventFilter

    def get_queryset(self) -> QuerySet[TriggerEvent]:
        return selectors.list_trigger_events()

    @extend_schema(
        request=EventTriggerInputSerializer, responses=TriggerEventSerializer
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
