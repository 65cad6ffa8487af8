"""Shapes of the evaluation-runs API (runs, results, comparisons, alerts)."""

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from evaluation.models import (
    EvaluationResult,
    EvaluationRun,
    GoldenSetSnapshot,
    RegressionAlert,
)
from evaluation.runs.selectors import list_runs
from registry.models import Label, ModelVersion, PromptTemplate, PromptVersion


class RunSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="prompt_version.template.name")
    prompt_version_number = serializers.IntegerField(source="prompt_version.number")
    model_version_name = serializers.CharField(source="model_version.name")
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    progress = serializers.SerializerMethodField()

    class Meta:
        model = EvaluationRun
        fields = [
            "id",
            "template",
            "prompt_version",
            "prompt_version_number",
            "model_version",
            "model_version_name",
            "snapshot",
            "mode",
            "status",
            "total",
            "done",
            "errors",
            "progress",
            "summary",
            "sqlglot_version",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_progress(self, run: EvaluationRun) -> float:
        """Fraction of items stored, in [0, 1]."""
        return run.done / run.total if run.total else 0.0


class RunInputSerializer(serializers.Serializer):
    """Either a (prompt version, model version) pair or a template's label."""

    prompt_version = serializers.PrimaryKeyRelatedField(
        queryset=PromptVersion.objects.all(), required=False
    )
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False
    )
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=PromptTemplate.objects.all(), required=False
    )
    # A plain string: a second enum of Label.Name would clash in the schema.
    label = serializers.CharField(  # type: ignore[assignment]  # an API field named like a DRF Field attribute
        required=False, help_text="production, challenger or shadow."
    )
    snapshot = serializers.PrimaryKeyRelatedField(
        queryset=GoldenSetSnapshot.objects.all()
    )
    mode = serializers.ChoiceField(
        choices=EvaluationRun.Mode.choices, default=EvaluationRun.Mode.SPIDER
    )
    chunk_size = serializers.IntegerField(min_value=1, max_value=1000, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        by_pair = "prompt_version" in attrs or "model_version" in attrs
        by_label = "template" in attrs or "label" in attrs
        if by_pair == by_label:
            raise serializers.ValidationError(
                "Name either prompt_version and model_version, or template and label."
            )
        needed = (
            ("prompt_version", "model_version") if by_pair else ("template", "label")
        )
        missing = {
            name: ["This field is required."] for name in needed if name not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        if by_label and attrs["label"] not in Label.Name.values:
            raise serializers.ValidationError(
                {"label": [f"Must be one of {', '.join(Label.Name.values)}."]}
            )
        if by_label:
            label = Label.objects.filter(
                template=attrs.pop("template"), name=attrs.pop("label")
            ).first()
            if label is None:
                raise serializers.ValidationError({"label": ["This label is not set."]})
            attrs["prompt_version"] = label.prompt_version
            attrs["model_version"] = label.model_version
        return attrs


class CancelInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, default="", max_length=2000)


class ResultSerializer(serializers.ModelSerializer):
    question = serializers.CharField(source="golden_example.question")
    domain = serializers.CharField(source="golden_example.domain")
    difficulty = serializers.CharField(source="golden_example.difficulty")

    class Meta:
        model = EvaluationResult
        fields = [
            "id",
            "golden_example",
            "question",
            "domain",
            "difficulty",
            "predicted_sql",
            "exact_match",
            "executed",
            "execution_match",
            "row_count_ok",
            "scored",
            "error",
            "error_kind",
            "latency_ms",
            "attempts",
            "created_at",
        ]


class ComparisonInputSerializer(serializers.Serializer):
    champion = serializers.PrimaryKeyRelatedField(queryset=list_runs())
    challenger = serializers.PrimaryKeyRelatedField(queryset=list_runs())


class AlertSerializer(serializers.ModelSerializer):
    template = serializers.CharField(source="run.prompt_version.template.name")

    class Meta:
        model = RegressionAlert
        fields = [
            "id",
            "template",
            "run",
            "champion_run",
            "segment",
            "metric",
            "champion_value",
            "challenger_value",
            "drop_points",
            "threshold_points",
            "champion_n",
            "challenger_n",
            "created_at",
            "email_sent_at",
            "webhook_delivered_at",
            "delivery_attempts",
            "last_delivery_error",
        ]
