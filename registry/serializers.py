from django.contrib.auth.models import User
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion
from targets.models import TargetDatabase


class PromptTemplateSerializer(serializers.ModelSerializer):
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    target_database: serializers.SlugRelatedField[TargetDatabase] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )

    class Meta:
        model = PromptTemplate
        fields = [
            "id",
            "name",
            "description",
            "owner",
            "risk_tier",
            "target_database",
            "created_at",
        ]


class PromptTemplateInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = serializers.CharField(allow_blank=True, default="")
    risk_tier = serializers.IntegerField(min_value=1, max_value=3)
    target_database = serializers.SlugRelatedField(
        slug_field="name", queryset=TargetDatabase.objects.all()
    )


class FewShotExampleSerializer(serializers.Serializer):
    question = serializers.CharField()
    sql = serializers.CharField()


class PromptVersionSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    author: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = PromptVersion
        fields = [
            "id",
            "template",
            "number",
            "template_text",
            "few_shot_examples",
            "parameters",
            "parent",
            "content_hash",
            "author",
            "changelog",
            "created_at",
        ]


class PromptVersionInputSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=PromptTemplate.objects.all()
    )
    template_text = serializers.CharField(trim_whitespace=False)
    few_shot_examples = FewShotExampleSerializer(many=True, default=list)
    parameters = serializers.DictField(default=dict)
    changelog = serializers.CharField()
    parent = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]  # an API field named like a DRF Field attribute
        queryset=PromptVersion.objects.all(), required=False, allow_null=True
    )


class PromptDiffSerializer(serializers.Serializer):
    old = serializers.IntegerField(help_text="Id of the older prompt version.")
    new = serializers.IntegerField(help_text="Id of the newer prompt version.")
    template_text = serializers.ListField(child=serializers.CharField())
    few_shot_examples = serializers.DictField(child=FewShotExampleSerializer(many=True))
    parameters = serializers.DictField()


class ModelVersionSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "provider",
            "model_identifier",
            "generation_parameters",
            "endpoint_name",
            "content_hash",
            "created_by",
            "created_at",
        ]


class ModelVersionInputSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    provider = serializers.ChoiceField(choices=ModelVersion.Provider.choices)
    model_identifier = serializers.CharField(max_length=200)
    generation_parameters = serializers.DictField(default=dict)
    endpoint_name = serializers.CharField(max_length=100, allow_blank=True, default="")


class LabelSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    prompt_version_number = serializers.IntegerField(
        source="prompt_version.number", read_only=True
    )
    model_version_name = serializers.CharField(
        source="model_version.name", read_only=True
    )
    moved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = Label
        fields = [
            "id",
            "template",
            "name",
            "prompt_version",
            "prompt_version_number",
            "model_version",
            "model_version_name",
            "traffic_share",
            "moved_by",
            "moved_at",
            "reason",
        ]


class ResolveInputSerializer(serializers.Serializer):
    template = serializers.SlugField(max_length=100)
    session_id = serializers.CharField(max_length=200)


class ServedPairSerializer(serializers.Serializer):
    label = serializers.CharField(source="name")  # type: ignore[assignment]  # an API field named like a DRF Field attribute
    prompt_version = serializers.IntegerField(source="prompt_version_id")
    prompt_version_number = serializers.IntegerField(source="prompt_version.number")
    model_version = serializers.IntegerField(source="model_version_id")
    model_version_name = serializers.CharField(source="model_version.name")


class ResolutionSerializer(serializers.Serializer):
    template = serializers.CharField(source="template.name")
    serve = ServedPairSerializer(source="label")
    shadow = ServedPairSerializer(allow_null=True)
    response_id = serializers.SerializerMethodField(
        help_text="Send it as the interaction's event_id."
    )
    feedback_token = serializers.SerializerMethodField(
        help_text="Short-lived; lets a page post feedback for this response only "
        "(header X-Loopgate-Feedback-Token on /api/v1/feedback/widget/)."
    )
    feedback_token_expires_at = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.UUID)
    def get_response_id(self, obj: object) -> str:
        return str(self.context["feedback_token"].response_id)

    @extend_schema_field(OpenApiTypes.STR)
    def get_feedback_token(self, obj: object) -> str:
        return self.context["feedback_token"].token

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_feedback_token_expires_at(self, obj: object) -> str:
        return self.context["feedback_token"].expires_at.isoformat()
