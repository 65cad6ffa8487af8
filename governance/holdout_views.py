"""Holdout API: the comparison with production, and asking to change the baseline.

Serializers sit beside the two views: they describe only these responses.
"""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from governance import holdout, selectors
from governance.holdout_stats import compare_holdout
from governance.serializers import PromotionRequestSerializer
from registry.models import ModelVersion, PromptTemplate, PromptVersion


class HoldoutPeriodSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=366, default=28)


class OutcomeMetricSerializer(serializers.Serializer):
    mean = serializers.FloatField()
    n = serializers.IntegerField()


class HoldoutSideSerializer(serializers.Serializer):
    pair = serializers.ListField(child=serializers.IntegerField())
    interactions = serializers.IntegerField()
    sessions = serializers.IntegerField()
    negative_rate = serializers.FloatField(allow_null=True)
    negative_interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True
    )
    success_rate = serializers.FloatField(allow_null=True)
    success_interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True
    )
    latency_p95_ms = serializers.FloatField(allow_null=True)
    thumbs_up = serializers.IntegerField()
    thumbs_down = serializers.IntegerField()
    outcomes = serializers.DictField(child=serializers.IntegerField())
    metrics = serializers.DictField(child=OutcomeMetricSerializer())


class HoldoutDeltaSerializer(serializers.Serializer):
    negative_rate = serializers.FloatField(allow_null=True)
    success_rate = serializers.FloatField(allow_null=True)
    latency_p95_ms = serializers.FloatField(allow_null=True)
    metrics = serializers.DictField(child=serializers.FloatField(allow_null=True))


class ProportionTestSerializer(serializers.Serializer):
    z = serializers.FloatField()
    p_value = serializers.FloatField()


class HoldoutTestsSerializer(serializers.Serializer):
    negative_rate = ProportionTestSerializer(allow_null=True)
    success_rate = ProportionTestSerializer(allow_null=True)


class HoldoutComparisonSerializer(serializers.Serializer):
    template = serializers.CharField()
    since = serializers.DateTimeField()
    until = serializers.DateTimeField(allow_null=True)
    share = serializers.DecimalField(max_digits=5, decimal_places=4)
    holdout = HoldoutSideSerializer()
    production = HoldoutSideSerializer()
    delta = HoldoutDeltaSerializer()
    tests = HoldoutTestsSerializer()
    alpha = serializers.FloatField()
    min_interactions = serializers.IntegerField()
    significant = serializers.BooleanField()


class BaselineChangeInputSerializer(serializers.Serializer):
    rationale = serializers.CharField()
    prompt_version = serializers.PrimaryKeyRelatedField(
        queryset=PromptVersion.objects.all(), required=False
    )
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False
    )


class HoldoutComparisonView(APIView):
    """Holdout vs production over the last `days` days (read-only)."""

    required_permission = "registry.view_label"

    @extend_schema(
        parameters=[OpenApiParameter("days", int, required=False)],
        responses=HoldoutComparisonSerializer,
    )
    def get(self, request: Request, template: str) -> Response:
        period = HoldoutPeriodSerializer(data=request.query_params)
        period.is_valid(raise_exception=True)
        comparison = compare_holdout(
            template=get_object_or_404(PromptTemplate, name=template),
            since=timezone.now() - timedelta(days=period.validated_data["days"]),
        )
        if comparison is None:
            raise Http404("This template has no holdout (or no production) yet.")
        return Response(HoldoutComparisonSerializer(comparison).data)


class BaselineChangeRequestView(APIView):
    """Ask to re-base the holdout; approvers decide it like any request."""

    write_permission = "governance.add_promotionrequest"

    @extend_schema(
        request=BaselineChangeInputSerializer,
        responses={201: PromotionRequestSerializer},
    )
    def post(self, request: Request, template: str) -> Response:
        data = BaselineChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        obj = holdout.request_baseline_change(
            template=get_object_or_404(PromptTemplate, name=template),
            requested_by=authenticated_user(request),
            **data.validated_data,
        )
        rendered = PromotionRequestSerializer(
            selectors.list_promotion_requests().get(pk=obj.pk)
        ).data
        return Response(rendered, status=status.HTTP_201_CREATED)
