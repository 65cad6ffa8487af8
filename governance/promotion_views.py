"""Governance API: promotion requests, their reviews, release notes, rollbacks."""

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from governance import (
    amendments,
    approvals,
    gates,
    promotions,
    rollbacks,
    selectors,
)
from governance.filters import (
    PromotionRequestFilter,
)
from governance.models import PromotionRequest
from governance.serializers import (
    GovernanceReasonInputSerializer,
    PromotionEditSerializer,
    PromotionInputSerializer,
    PromotionRequestSerializer,
    ReleaseNoteSerializer,
    ReviewInputSerializer,
    RollbackInputSerializer,
    RolledBackLabelSerializer,
)


class PromotionListView(generics.ListAPIView):
    required_permission = "governance.view_promotionrequest"
    write_permission = "governance.add_promotionrequest"
    serializer_class = PromotionRequestSerializer
    filterset_class = PromotionRequestFilter

    def get_queryset(self) -> QuerySet[PromotionRequest]:
        return selectors.list_promotion_requests()

    @extend_schema(
        request=PromotionInputSerializer, responses={201: PromotionRequestSerializer}
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
        obj = approvals.approve_promotion(
            request=self.target(pk),
            approver=authenticated_user(request),
            comment=data.validated_data["comment"],
            seen_hash=data.validated_data.get("content_hash"),
            risk_assessment=data.validated_data.get("risk_assessment"),
            acknowledge_underpowered=data.validated_data["acknowledge_underpowered"],
        )
        return Response(_render(obj))


class PromotionRejectView(_PromotionCommand):
    write_permission = "governance.approve_promotionrequest"

    @extend_schema(request=ReviewInputSerializer, responses=PromotionRequestSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = ReviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = approvals.reject_promotion(
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
        request=RollbackInputSerializer, responses={201: PromotionRequestSerializer}
    )
    def post(self, request: Request) -> Response:
        data = RollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = rollbacks.request_rollback(
            **data.validated_data, requested_by=authenticated_user(request)
        )
        return Response(_render(obj), status=status.HTTP_201_CREATED)
