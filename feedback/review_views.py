"""Review-queue API: list, read, claim, release, approve, reject, escalate, and
blind verdicts on double-reviewed items."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
)
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from feedback import double_review, selectors, services
from feedback.exceptions import (
    FeedbackError,
)
from feedback.models import ReviewItem
from feedback.serializers import (
    ApproveInputSerializer,
    ReasonInputSerializer,
    RejectInputSerializer,
    ReviewItemDetailSerializer,
    ReviewItemSerializer,
    VerdictInputSerializer,
)


class ReviewItemListView(generics.ListAPIView):
    required_permission = "feedback.view_reviewitem"
    serializer_class = ReviewItemSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=list(ReviewItem.State.values)),
        ]
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[ReviewItem]:
        if getattr(self, "swagger_fake_view", False):
            # Schema generation: the ranking runs a query, and no database is needed.
            return ReviewItem.objects.none()
        state = self.request.query_params.get("state") or None
        if state is not None and state not in ReviewItem.State.values:
            raise FeedbackError(
                f"One of: {', '.join(ReviewItem.State.values)}.", field="state"
            )
        return selectors.list_review_queue(state=state)


class ReviewItemDetailView(generics.RetrieveAPIView):
    required_permission = "feedback.view_reviewitem"
    serializer_class = ReviewItemDetailSerializer

    def get_queryset(self) -> QuerySet[ReviewItem]:
        return selectors.list_review_queue()


def _review_response(item: ReviewItem) -> Response:
    fresh = selectors.list_review_queue().filter(pk=item.pk).first() or item
    return Response(ReviewItemDetailSerializer(fresh).data)


class ReviewActionView(APIView):
    write_permission = "feedback.review_reviewitem"

    def item(self, pk: int) -> ReviewItem:
        return get_object_or_404(ReviewItem, pk=pk)


class ReviewItemClaimView(ReviewActionView):
    @extend_schema(request=None, responses=ReviewItemDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        item = services.claim_review_item(
            item=self.item(pk), acting_user=authenticated_user(request)
        )
        return _review_response(item)


class ReviewItemReleaseView(ReviewActionView):
    @extend_schema(request=None, responses=ReviewItemDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        item = services.release_review_item(
            item=self.item(pk), acting_user=authenticated_user(request)
        )
        return _review_response(item)


class ReviewItemApproveView(ReviewActionView):
    @extend_schema(request=ApproveInputSerializer, responses=ReviewItemDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = ApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.approve_review_item(
            item=self.item(pk),
            acting_user=authenticated_user(request),
            **data.validated_data,
        )
        return _review_response(item)


class ReviewItemRejectView(ReviewActionView):
    @extend_schema(request=RejectInputSerializer, responses=ReviewItemDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = RejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.reject_review_item(
            item=self.item(pk),
            acting_user=authenticated_user(request),
            **data.validated_data,
        )
        return _review_response(item)


class ReviewItemEscalateView(ReviewActionView):
    @extend_schema(request=ReasonInputSerializer, responses=ReviewItemDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = services.escalate_review_item(
            item=self.item(pk),
            acting_user=authenticated_user(request),
            **data.validated_data,
        )
        return _review_response(item)


class ReviewItemVerdictView(ReviewActionView):
    """A blind verdict on a double-reviewed item (approve, or reject with a reason)."""

    @extend_schema(request=VerdictInputSerializer, responses=ReviewItemDetailSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = VerdictInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = double_review.submit_verdict(
            item=self.item(pk),
            acting_user=authenticated_user(request),
            **data.validated_data,
        )
        return _review_response(item)
