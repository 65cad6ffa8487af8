"""Model cards (JSON, Markdown, printable HTML) and risk assessments by API."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from governance import approvals, model_cards, risk
from governance.card_render import render_markdown
from governance.models import ModelCard, PromotionRequest
from governance.serializers import (
    ModelCardSerializer,
    RiskAssessmentInputSerializer,
    RiskAssessmentSerializer,
)


def card_for(pk: int) -> ModelCard:
    """The request's latest card; 404 for an unknown request or no card."""
    card = model_cards.current_card(get_object_or_404(PromotionRequest, pk=pk))
    if card is None:
        raise Http404
    return card


def render_html(card: ModelCard) -> str:
    """A standalone, printable page of the card."""
    return render_to_string(
        "governance/model_card.html",
        {
            "card": card,
            "c": card.content,
            "markdown": render_markdown(
                card.content, version=card.version, final=card.final
            ),
        },
    )


class ModelCardView(APIView):
    """`model-card/` (JSON), `model-card.md` and `model-card.html` (printable)."""

    required_permission = "governance.view_modelcard"

    @extend_schema(responses=ModelCardSerializer)
    def get(self, request: Request, pk: int, fmt: str = "json") -> Any:
        card = card_for(pk)
        if fmt == "md":
            response = HttpResponse(
                render_markdown(card.content, version=card.version, final=card.final),
                content_type="text/markdown; charset=utf-8",
            )
            response["Content-Disposition"] = (
                f'attachment; filename="model-card-{pk}-v{card.version}.md"'
            )
            return response
        if fmt == "html":
            return HttpResponse(render_html(card), content_type="text/html")
        if fmt != "json":
            raise Http404
        versions = ModelCard.objects.filter(request_id=pk).order_by("version")
        return Response(
            {
                **ModelCardSerializer(card).data,
                "content": card.content,
                "versions": ModelCardSerializer(versions, many=True).data,
            }
        )


class RiskAssessmentView(APIView):
    """Read the request's risk assessments and the fields; approvers write one."""

    required_permission = "governance.view_riskassessment"
    write_permission = "governance.approve_promotionrequest"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, pk: int) -> Response:
        obj = get_object_or_404(PromotionRequest, pk=pk)
        rows = obj.risk_assessments.select_related("author").order_by("-created_at")
        return Response(
            {
                "fields": risk.risk_fields(obj),
                "current": RiskAssessmentSerializer(rows.first()).data
                if rows
                else None,
                "history": RiskAssessmentSerializer(rows, many=True).data,
            }
        )

    @extend_schema(
        request=RiskAssessmentInputSerializer, responses=RiskAssessmentSerializer
    )
    def post(self, request: Request, pk: int) -> Response:
        data = RiskAssessmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = approvals.complete_risk_assessment(
            request=get_object_or_404(PromotionRequest, pk=pk),
            acting_user=authenticated_user(request),
            answers=data.validated_data["answers"],
            seen_hash=data.validated_data.get("content_hash"),
        )
        return Response(RiskAssessmentSerializer(row).data, status.HTTP_201_CREATED)
