"""Privacy API: privacy officers file revocations and erasures; auditors read."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import authenticated_user
from feedback import privacy
from feedback.models import PrivacyRequest
from feedback.privacy_serializers import (
    PrivacyRequestInputSerializer,
    PrivacyRequestSerializer,
)


class PrivacyRequestListView(generics.ListAPIView):
    """Requests and retention runs, newest first; filing one withdraws consent
    at once (an erasure then completes on the privacy queue)."""

    required_permission = "feedback.view_privacyrequest"
    write_permission = "feedback.add_privacyrequest"
    serializer_class = PrivacyRequestSerializer

    def get_queryset(self) -> QuerySet[PrivacyRequest]:
        return PrivacyRequest.objects.select_related("requested_by")

    @extend_schema(
        request=PrivacyRequestInputSerializer,
        responses={201: PrivacyRequestSerializer},
    )
    def post(self, request: Request) -> Response:
        data = PrivacyRequestInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        filed = privacy.file_privacy_request(
            acting_user=authenticated_user(request), **data.validated_data
        )
        filed.refresh_from_db()
        return Response(
            PrivacyRequestSerializer(filed).data, status=status.HTTP_201_CREATED
        )


class PrivacyRequestDetailView(generics.RetrieveAPIView):
    required_permission = "feedback.view_privacyrequest"
    serializer_class = PrivacyRequestSerializer

    def get_queryset(self) -> QuerySet[PrivacyRequest]:
        return PrivacyRequest.objects.select_related("requested_by")
