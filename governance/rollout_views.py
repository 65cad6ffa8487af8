"""Governance API: staged rollouts, read-only, and the abort command."""

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from governance import rollout_abort, selectors
from governance.models import Rollout
from governance.serializers import RolloutAbortInputSerializer, RolloutSerializer


class RolloutListView(generics.ListAPIView):
    required_permission = "governance.view_rollout"
    serializer_class = RolloutSerializer

    def get_queryset(self) -> QuerySet[Rollout]:
        return selectors.list_rollouts()


class RolloutDetailView(generics.RetrieveAPIView):
    required_permission = "governance.view_rollout"
    serializer_class = RolloutSerializer

    def get_queryset(self) -> QuerySet[Rollout]:
        return selectors.list_rollouts()


class RolloutAbortView(APIView):
    """Stop an open rollout (one approver of its tier, with a reason)."""

    write_permission = "governance.approve_promotionrequest"

    @extend_schema(request=RolloutAbortInputSerializer, responses=RolloutSerializer)
    def post(self, request: Request, pk: int) -> Response:
        data = RolloutAbortInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rollout_abort.abort_rollout(
            rollout=get_object_or_404(Rollout, pk=pk),
            acting_user=authenticated_user(request),
            reason=data.validated_data["reason"],
        )
        return Response(RolloutSerializer(selectors.list_rollouts().get(pk=pk)).data)
