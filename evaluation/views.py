"""Golden-set API: golden examples and snapshots."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from evaluation import selectors, services
from evaluation.filters import GoldenExampleFilter
from evaluation.importing import import_golden_examples, read_api_items
from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from evaluation.serializers import (
    GoldenExampleInputSerializer,
    GoldenExampleSerializer,
    GoldenImportInputSerializer,
    GoldenImportReportSerializer,
    RetireInputSerializer,
    SnapshotDetailSerializer,
    SnapshotInputSerializer,
    SnapshotSerializer,
)


class GoldenExampleListView(generics.ListAPIView):
    required_permission = "evaluation.view_goldenexample"
    write_permission = "evaluation.add_goldenexample"
    serializer_class = GoldenExampleSerializer
    filterset_class = GoldenExampleFilter

    def get_queryset(self) -> QuerySet[GoldenExample]:
        return selectors.list_golden_examples()

    @extend_schema(
        request=GoldenExampleInputSerializer, responses={201: GoldenExampleSerializer}
    )
    def post(self, request: Request) -> Response:
        data = GoldenExampleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        example = services.add_manual_golden_example(
            **data.validated_data, acting_user=authenticated_user(request)
        )
        shown = selectors.list_golden_examples().get(pk=example.pk)
        return Response(
            GoldenExampleSerializer(shown).data, status=status.HTTP_201_CREATED
        )


class GoldenExampleImportView(APIView):
    """Import golden examples onto registered targets, idempotent by id.

    Each new item's SQL must run on its target: a failure stores nothing (400
    with `errors` listing each by line and the engine message) unless
    `skip_invalid`, which stores the rest and lists the failures.
    """

    write_permission = "evaluation.add_goldenexample"

    @extend_schema(
        request=GoldenImportInputSerializer,
        responses={201: GoldenImportReportSerializer},
    )
    def post(self, request: Request) -> Response:
        data = GoldenImportInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticated_user(request)
        report = import_golden_examples(
            items=read_api_items(
                data.validated_data["items"], id_prefix=data.validated_data["id_prefix"]
            ),
            db_dir=None,
            acting_user=user,
            owner=user,
            skip_invalid=data.validated_data["skip_invalid"],
            snapshot_name=data.validated_data.get("snapshot"),
            from_dialect=data.validated_data.get("from_dialect"),
        )
        return Response(
            GoldenImportReportSerializer(report).data, status=status.HTTP_201_CREATED
        )


class GoldenExampleDetailView(generics.RetrieveAPIView):
    required_permission = "evaluation.view_goldenexample"
    serializer_class = GoldenExampleSerializer

    def get_queryset(self) -> QuerySet[GoldenExample]:
        return selectors.list_golden_examples()


class GoldenExampleRetireView(APIView):
    """Retire a golden example with a reason; it stays readable, never deleted."""

    write_permission = "evaluation.change_goldenexample"

    @extend_schema(request=RetireInputSerializer, responses=GoldenExampleSerializer)
    def post(self, request: Request, pk: int) -> Response:
        example = get_object_or_404(selectors.list_golden_examples(), pk=pk)
        data = RetireInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.retire_golden_example(
            example=example,
            reason=data.validated_data["reason"],
            acting_user=authenticated_user(request),
        )
        shown = selectors.list_golden_examples().get(pk=pk)
        return Response(GoldenExampleSerializer(shown).data)


class SnapshotListView(generics.ListAPIView):
    required_permission = "evaluation.view_goldensetsnapshot"
    write_permission = "evaluation.add_goldensetsnapshot"
    serializer_class = SnapshotSerializer

    def get_queryset(self) -> QuerySet[GoldenSetSnapshot]:
        return selectors.list_snapshots()

    @extend_schema(
        request=SnapshotInputSerializer, responses={201: SnapshotDetailSerializer}
    )
    def post(self, request: Request) -> Response:
        """Idempotent: the same content returns the existing snapshot (same id)."""
        data = SnapshotInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        snapshot = services.create_snapshot_from_selection(
            name=data.validated_data["name"],
            example_ids=data.validated_data.get("example_ids"),
            filters=data.validated_data.get("filter"),
            acting_user=authenticated_user(request),
        )
        shown = selectors.list_snapshots_with_items().get(pk=snapshot.pk)
        return Response(
            SnapshotDetailSerializer(shown).data, status=status.HTTP_201_CREATED
        )


class SnapshotDetailView(generics.RetrieveAPIView):
    required_permission = "evaluation.view_goldensetsnapshot"
    serializer_class = SnapshotDetailSerializer

    def get_queryset(self) -> QuerySet[GoldenSetSnapshot]:
        return selectors.list_snapshots_with_items()
