"""Read-only output of retraining cycles and dataset snapshots for the API."""

from django.contrib.auth.models import User
from rest_framework import serializers

from governance.cycle.models import (
    DatasetSnapshot,
    RetrainingCycle,
)
from governance.models import DecisionLogEntry
from registry.models import PromptTemplate


class CycleStepSerializer(serializers.Serializer):
    """One row of `RetrainingCycle.steps`, as `governance.cycle.StepRecorder`
    stores it."""

    name = serializers.CharField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()
    numbers = serializers.DictField()
    detail = serializers.CharField()


class CycleDatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = DatasetSnapshot
        fields = ["id", "content_hash"]


class CycleDecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = DecisionLogEntry
        fields = ["id", "sequence", "decision", "decided_at"]


class RetrainingCycleSerializer(serializers.ModelSerializer):
    """One serializer for list and detail: a second component with the same
    `status` choices would give the schema an unstable enum name."""

    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    dataset = CycleDatasetSerializer(read_only=True, allow_null=True)
    decision = CycleDecisionSerializer(read_only=True, allow_null=True)
    steps = CycleStepSerializer(many=True, read_only=True)

    class Meta:
        model = RetrainingCycle
        fields = [
            "id",
            "template",
            "status",
            "trigger",
            "requested_by",
            "dataset",
            "golden_snapshot",
            "champion_prompt",
            "champion_model",
            "challenger_prompt",
            "challenger_model",
            "champion_run",
            "challenger_run",
            "decision",
            "promotion_request",
            "steps",
            "options",
            "validation",
            "comparison",
            "online_comparison",
            "training_export",
            "error",
            "started_at",
            "finished_at",
        ]


class DatasetSnapshotSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    cycles: serializers.PrimaryKeyRelatedField[RetrainingCycle] = (
        serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    )

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id",
            "template",
            "content_hash",
            "window_start",
            "window_end",
            "code_version",
            "previous",
            "created_by",
            "created_at",
            "cycles",
        ]


class DatasetSnapshotDetailSerializer(DatasetSnapshotSerializer):
    class Meta(DatasetSnapshotSerializer.Meta):
        # The rows (questions and SQL) stay out, as in the admin: the manifest
        # names every review item and golden example they came from.
        fields = [*DatasetSnapshotSerializer.Meta.fields, "manifest"]
