"""Feedback categories and error classes: counts, re-categorization, trends."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from feedback import selectors
from feedback.categories import TAXONOMY_VERSION, TOPICS
from feedback.categorization import recategorize_feedback
from feedback.error_classes import error_class_trend
from feedback.models import Feedback
from feedback.serializers import (
    CategoryCountsQuerySerializer,
    ErrorTrendQuerySerializer,
    FeedbackTopicSerializer,
    RecategorizeInputSerializer,
)
from registry.models import PromptTemplate


class FeedbackCategoryCountsView(APIView):
    """Explicit feedback per category (and type), overall or for one template."""

    required_permission = "feedback.view_feedback"

    @extend_schema(
        parameters=[
            OpenApiParameter("template", str),
            OpenApiParameter("start", str, description="ISO 8601, inclusive"),
            OpenApiParameter("end", str, description="ISO 8601, exclusive"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        query = CategoryCountsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        name = data.pop("template", None)
        template = (
            get_object_or_404(PromptTemplate, name=name) if name is not None else None
        )
        return Response(
            {
                "taxonomy_version": TAXONOMY_VERSION,
                "categories": TOPICS,
                "template": name,
                **selectors.feedback_topic_counts(template=template, **data),
            }
        )


class FeedbackRecategorizeView(APIView):
    """A reviewer gives explicit feedback another category, with a reason."""

    write_permission = "feedback.recategorize_feedback"

    @extend_schema(
        request=RecategorizeInputSerializer, responses=FeedbackTopicSerializer
    )
    def post(self, request: Request, pk: str) -> Response:
        data = RecategorizeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = recategorize_feedback(
            feedback=get_object_or_404(Feedback, pk=pk),
            acting_user=authenticated_user(request),
            **data.validated_data,
        )
        return Response(FeedbackTopicSerializer(row).data, status.HTTP_201_CREATED)


class ErrorClassTrendView(APIView):
    """Error classes of a template's corrections per period and segment."""

    required_permission = "feedback.view_reviewitem"

    @extend_schema(
        parameters=[
            OpenApiParameter("template", str, required=True),
            OpenApiParameter("period_days", int),
            OpenApiParameter("periods", int),
            OpenApiParameter("end", str, description="ISO 8601"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request) -> Response:
        query = ErrorTrendQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        template = get_object_or_404(PromptTemplate, name=data.pop("template"))
        return Response(error_class_trend(template=template, **data))
