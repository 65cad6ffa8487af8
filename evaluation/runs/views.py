"""The evaluation-runs API: thin interfaces over runner, comparison and selectors."""

from collections.abc import Mapping
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from evaluation.models import EvaluationResult, EvaluationRun, RegressionAlert
from evaluation.runs import selectors, services
from evaluation.runs.comparison import compare_runs
from evaluation.runs.reports import comparison_markdown
from evaluation.runs.serializers import (
    AlertSerializer,
    CancelInputSerializer,
    ComparisonInputSerializer,
    ResultSerializer,
    RunInputSerializer,
    RunSerializer,
)

VIEW_RUNS = "evaluation.view_evaluationrun"


class RunFilter(django_filters.FilterSet):
    template = django_filters.CharFilter(field_name="prompt_version__template__name")

    class Meta:
        model = EvaluationRun
        fields = ["status", "mode", "snapshot", "prompt_version", "model_version"]


class RunListView(generics.ListAPIView):
    """Runs, newest first; POST starts one (202: it runs on the workers)."""

    required_permission = VIEW_RUNS
    write_permission = "evaluation.add_evaluationrun"
    serializer_class = RunSerializer
    filterset_class = RunFilter

    def get_queryset(self) -> QuerySet[EvaluationRun]:
        return selectors.list_runs()

    @extend_schema(request=RunInputSerializer, responses={202: RunSerializer})
    def post(self, request: Request) -> Response:
        data = RunInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.start_run(
            **data.validated_data, acting_user=authenticated_user(request)
        )
        run = selectors.list_runs().get(pk=run.pk)
        return Response(RunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class RunDetailView(generics.RetrieveAPIView):
    """One run with its progress (done / total, errors) and summary."""

    required_permission = VIEW_RUNS
    serializer_class = RunSerializer

    def get_queryset(self) -> QuerySet[EvaluationRun]:
        return selectors.list_runs()


class RunCancelView(APIView):
    """Cancel a queued or running run (409 once it has finished)."""

    required_permission = VIEW_RUNS
    write_permission = "evaluation.cancel_evaluationrun"

    @extend_schema(request=CancelInputSerializer, responses=RunSerializer)
    def post(self, request: Request, pk: int) -> Response:
        run = get_object_or_404(selectors.list_runs(), pk=pk)
        data = CancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.cancel_run(
            run=run, acting_user=authenticated_user(request), **data.validated_data
        )
        return Response(RunSerializer(selectors.list_runs().get(pk=pk)).data)


class ResultFilter(django_filters.FilterSet):
    class Meta:
        model = EvaluationResult
        fields = ["execution_match", "exact_match", "executed", "scored", "error_kind"]


class RunResultListView(generics.ListAPIView):
    """A run's per-item results, filterable by verdict and error kind."""

    required_permission = "evaluation.view_evaluationresult"
    serializer_class = ResultSerializer
    filterset_class = ResultFilter

    def get_queryset(self) -> QuerySet[EvaluationResult]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return EvaluationResult.objects.none()
        run = get_object_or_404(EvaluationRun, pk=self.kwargs["pk"])
        return selectors.list_results(run=run)


class MarkdownRenderer(BaseRenderer):
    media_type = "text/markdown"
    format = "md"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        if isinstance(data, str):
            return data.encode()
        # Errors keep their JSON body, and say so, even when Markdown was asked for.
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return JSONRenderer().render(data)


class ComparisonView(APIView):
    """Champion vs challenger on one snapshot; `?format=md` for the report."""

    required_permission = VIEW_RUNS
    renderer_classes = [JSONRenderer, MarkdownRenderer]

    @extend_schema(
        parameters=[
            ComparisonInputSerializer,
            OpenApiParameter("format", str, enum=["json", "md"]),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/markdown"): OpenApiTypes.STR,
        },
    )
    def get(self, request: Request, format: str | None = None) -> Response:
        data = ComparisonInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        comparison = compare_runs(**data.validated_data)
        if request.accepted_renderer.format == "md":
            return Response(comparison_markdown(comparison))
        return Response(comparison.as_dict())


class AlertFilter(django_filters.FilterSet):
    class Meta:
        model = RegressionAlert
        fields = ["run", "champion_run", "segment"]


class AlertListView(generics.ListAPIView):
    """Regression alerts, newest first."""

    required_permission = "evaluation.view_regressionalert"
    serializer_class = AlertSerializer
    filterset_class = AlertFilter

    def get_queryset(self) -> QuerySet[RegressionAlert]:
        return selectors.list_alerts()
