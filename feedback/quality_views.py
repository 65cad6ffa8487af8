"""Review-quality API: guideline versions, the agreement report, calibration."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from feedback import calibration, guidelines
from feedback.agreement import agreement_report
from feedback.models import GuidelineVersion
from feedback.quality_serializers import (
    AgreementQuerySerializer,
    CalibrationAnswerInputSerializer,
    CalibrationItemSerializer,
    GuidelineVersionInputSerializer,
    GuidelineVersionSerializer,
)


class GuidelineVersionListView(generics.ListAPIView):
    """Every guideline version, newest first; ML leads publish the next one."""

    required_permission = "feedback.view_guidelineversion"
    write_permission = "feedback.add_guidelineversion"
    serializer_class = GuidelineVersionSerializer

    def get_queryset(self) -> QuerySet[GuidelineVersion]:
        return GuidelineVersion.objects.select_related("author")

    @extend_schema(
        request=GuidelineVersionInputSerializer,
        responses={201: GuidelineVersionSerializer},
    )
    def post(self, request: Request) -> Response:
        data = GuidelineVersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = guidelines.publish_guideline_version(
            author=authenticated_user(request), **data.validated_data
        )
        return Response(
            GuidelineVersionSerializer(version).data, status=status.HTTP_201_CREATED
        )


class GuidelineVersionDetailView(generics.RetrieveAPIView):
    required_permission = "feedback.view_guidelineversion"
    serializer_class = GuidelineVersionSerializer

    def get_queryset(self) -> QuerySet[GuidelineVersion]:
        return GuidelineVersion.objects.select_related("author")


class AgreementReportView(APIView):
    """Cohen's kappa per period and template, each reviewer's agreement with
    final outcomes, the 95% target, guideline changes and calibration."""

    required_permission = "feedback.view_reviewverdict"

    @extend_schema(
        parameters=[AgreementQuerySerializer],
        responses=OpenApiResponse(description="The agreement report."),
    )
    def get(self, request: Request) -> Response:
        query = AgreementQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        report: dict[str, Any] = agreement_report(**query.validated_data)
        report["calibration"] = calibration.calibration_report()
        return Response(report)


class CalibrationView(APIView):
    """The caller's calibration: progress, agreement, and the items left."""

    required_permission = "feedback.review_reviewitem"

    @extend_schema(responses=OpenApiResponse(description="Progress and items left."))
    def get(self, request: Request) -> Response:
        user = authenticated_user(request)
        items = calibration.unanswered(user)
        return Response(
            {
                **calibration.calibration_status(user),
                "items": CalibrationItemSerializer(items, many=True).data,
            }
        )


class CalibrationAnswerView(APIView):
    write_permission = "feedback.review_reviewitem"

    @extend_schema(
        request=CalibrationAnswerInputSerializer,
        responses=OpenApiResponse(description="Progress and agreement so far."),
    )
    def post(self, request: Request, pk: int) -> Response:
        data = CalibrationAnswerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticated_user(request)
        item = get_object_or_404(calibration.calibration_set(), pk=pk)
        calibration.answer_calibration_item(
            calibration_item=item, reviewer=user, **data.validated_data
        )
        return Response(
            calibration.calibration_status(user), status=status.HTTP_201_CREATED
        )
