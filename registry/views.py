import uuid

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import authenticated_user
from accounts.widget_tokens import issue_feedback_token
from registry import selectors, services
from registry.content import diff_prompt_content
from registry.filters import (
    LabelFilter,
    ModelVersionFilter,
    PromptTemplateFilter,
    PromptVersionFilter,
)
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from registry.serializers import (
    LabelSerializer,
    ModelVersionInputSerializer,
    ModelVersionSerializer,
    PromptDiffSerializer,
    PromptTemplateInputSerializer,
    PromptTemplateSerializer,
    PromptVersionInputSerializer,
    PromptVersionSerializer,
    ResolutionSerializer,
    ResolveInputSerializer,
)


class PromptTemplateListView(generics.ListAPIView):
    required_permission = "registry.view_prompttemplate"
    write_permission = "registry.add_prompttemplate"
    serializer_class = PromptTemplateSerializer
    filterset_class = PromptTemplateFilter

    def get_queryset(self) -> QuerySet[PromptTemplate]:
        return selectors.list_templates()

    @extend_schema(
        request=PromptTemplateInputSerializer, responses={201: PromptTemplateSerializer}
    )
    def post(self, request: Request) -> Response:
        data = PromptTemplateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticated_user(request)
        template = services.create_template(
            **data.validated_data, owner=user, acting_user=user
        )
        return Response(
            PromptTemplateSerializer(template).data, status=status.HTTP_201_CREATED
        )


class PromptTemplateDetailView(generics.RetrieveAPIView):
    required_permission = "registry.view_prompttemplate"
    serializer_class = PromptTemplateSerializer
    lookup_field = "name"

    def get_queryset(self) -> QuerySet[PromptTemplate]:
        return selectors.list_templates()


class PromptVersionListView(generics.ListAPIView):
    required_permission = "registry.view_promptversion"
    write_permission = "registry.add_promptversion"
    serializer_class = PromptVersionSerializer
    filterset_class = PromptVersionFilter

    def get_queryset(self) -> QuerySet[PromptVersion]:
        return selectors.list_prompt_versions()

    @extend_schema(
        request=PromptVersionInputSerializer, responses={201: PromptVersionSerializer}
    )
    def post(self, request: Request) -> Response:
        data = PromptVersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.create_prompt_version(
            **data.validated_data, author=authenticated_user(request)
        )
        return Response(
            PromptVersionSerializer(version).data, status=status.HTTP_201_CREATED
        )


class PromptVersionDetailView(generics.RetrieveAPIView):
    required_permission = "registry.view_promptversion"
    serializer_class = PromptVersionSerializer

    def get_queryset(self) -> QuerySet[PromptVersion]:
        return selectors.list_prompt_versions()


class PromptVersionDiffView(APIView):
    required_permission = "registry.view_promptversion"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "against",
                int,
                description="Version id to compare with (default: the parent).",
            )
        ],
        responses=PromptDiffSerializer,
    )
    def get(self, request: Request, pk: int) -> Response:
        versions = selectors.list_prompt_versions()
        new = get_object_or_404(versions, pk=pk)
        against = request.query_params.get("against")
        if against is not None and not against.isdigit():
            return Response(
                {"against": ["Must be a prompt version id."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        old_pk = int(against) if against is not None else new.parent_id
        if old_pk is None:
            return Response(
                {"against": ["This version has no parent; name one to compare."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        old = get_object_or_404(versions, pk=old_pk)
        diff = diff_prompt_content(
            services.prompt_content(old), services.prompt_content(new)
        )
        return Response({"old": old.pk, "new": new.pk, **diff})


class ModelVersionListView(generics.ListAPIView):
    required_permission = "registry.view_modelversion"
    write_permission = "registry.add_modelversion"
    serializer_class = ModelVersionSerializer
    filterset_class = ModelVersionFilter

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.list_model_versions()

    @extend_schema(
        request=ModelVersionInputSerializer, responses={201: ModelVersionSerializer}
    )
    def post(self, request: Request) -> Response:
        data = ModelVersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.register_model_version(
            **data.validated_data, acting_user=authenticated_user(request)
        )
        return Response(
            ModelVersionSerializer(version).data, status=status.HTTP_201_CREATED
        )


class ModelVersionDetailView(generics.RetrieveAPIView):
    required_permission = "registry.view_modelversion"
    serializer_class = ModelVersionSerializer

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return selectors.list_model_versions()


class LabelListView(generics.ListAPIView):
    required_permission = "registry.view_label"
    serializer_class = LabelSerializer
    filterset_class = LabelFilter

    def get_queryset(self) -> QuerySet[Label]:
        return selectors.list_labels()


class ResolveView(APIView):
    """Which pair the assistant serves for a session; echo its ids in feedback."""

    required_permission = "registry.resolve_prompttemplate"

    @extend_schema(parameters=[ResolveInputSerializer], responses=ResolutionSerializer)
    def get(self, request: Request) -> Response:
        data = ResolveInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        template = get_object_or_404(
            PromptTemplate, name=data.validated_data["template"]
        )
        resolution = selectors.resolve_pair(
            template=template, session_id=data.validated_data["session_id"]
        )
        # The response id becomes the interaction's event id; the token lets a
        # browser post feedback for that response only.
        token = issue_feedback_token(response_id=uuid.uuid4())
        context = {"feedback_token": token}
        return Response(ResolutionSerializer(resolution, context=context).data)
