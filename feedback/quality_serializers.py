"""API shapes of review quality: guideline versions, the agreement report's
query, calibration items as reviewers see them (never the expected verdict)."""

from django.contrib.auth.models import User
from rest_framework import serializers

from feedback.models import CalibrationItem, GuidelineVersion
from feedback.quality_models import Verdict


class GuidelineVersionSerializer(serializers.ModelSerializer):
    author: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = GuidelineVersion
        fields = ["id", "number", "text", "effective_at", "author", "created_at"]


class GuidelineVersionInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=100_000)
    effective_at = serializers.DateTimeField(
        required=False, help_text="Default: now. Never in the past."
    )


class AgreementQuerySerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=["week", "month"], default="month")
    template = serializers.CharField(required=False, max_length=100)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)


class CalibrationItemSerializer(serializers.ModelSerializer):
    """What a reviewer sees of a calibration item: never the expected verdict."""

    kind = serializers.CharField(source="item.kind", read_only=True)
    template = serializers.CharField(source="item.template.name", read_only=True)
    question = serializers.CharField(source="item.interaction.question", read_only=True)
    generated_sql = serializers.CharField(
        source="item.interaction.generated_sql", read_only=True
    )
    corrected_sql = serializers.CharField(
        source="item.feedback.corrected_sql", read_only=True, default=""
    )

    class Meta:
        model = CalibrationItem
        fields = [
            "id",
            "kind",
            "template",
            "question",
            "generated_sql",
            "corrected_sql",
        ]


class CalibrationAnswerInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.choices)
