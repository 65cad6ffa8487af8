"""Target-database API: list, register, read (with the captured schema)."""

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import authenticated_user
from targets import selectors, services
from targets.models import TargetDatabase
from targets.serializers import (
    TargetDatabaseDetailSerializer,
    TargetDatabaseInputSerializer,
    TargetDatabaseSerializer,
)


class TargetDatabaseListView(generics.ListAPIView):
    required_permission = "targets.view_targetdatabase"
    write_permission = "targets.add_targetdatabase"
    serializer_class = TargetDatabaseSerializer
    filterset_fields = ["engine"]

    def get_queryset(self) -> QuerySet[TargetDatabase]:
        return selectors.list_target_databases()

    @extend_schema(
        request=TargetDatabaseInputSerializer,
        responses={201: TargetDatabaseDetailSerializer},
    )
    def post(self, request: Request) -> Response:
        data = TargetDatabaseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        target = services.register_target_database(
            **data.validated_data,
            acting_user=authenticated_user(request),
            restrict_location=True,
        )
        return Response(
            TargetDatabaseDetailSerializer(target).data, status=status.HTTP_201_CREATED
        )


class TargetDatabaseDetailView(generics.RetrieveAPIView):
    required_permission = "targets.view_targetdatabase"
    serializer_class = TargetDatabaseDetailSerializer
    lookup_field = "name"

    def get_queryset(self) -> QuerySet[TargetDatabase]:
        return selectors.list_target_databases()
