from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from rest_framework import serializers

from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from targets.models import TargetDatabase


class GoldenExampleSerializer(serializers.ModelSerializer):
    target_database: serializers.SlugRelatedField[TargetDatabase] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    owner: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    approved_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    retired_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    is_stale = serializers.BooleanField(
        read_only=True,
        help_text="Active and older than GOLDEN_STALE_DAYS: its owner should "
        "re-check it.",
    )

    class Meta:
        model = GoldenExample
        fields = [
            "id",
            "target_database",
            "kind",
            "expect",
            "question",
            "sql",
            "domain",
            "difficulty",
            "tags",
            "owner",
            "source",
            "external_id",
            "source_interaction_id",
            "source_feedback_id",
            "approved_by",
            "approved_at",
            "original_sql",
            "original_dialect",
            "transpiled_with",
            "created_at",
            "is_stale",
            "retired_at",
            "retired_by",
            "retire_reason",
        ]


class GoldenExampleInputSerializer(serializers.Serializer):
    target_database = serializers.SlugRelatedField(
        slug_field="name", queryset=TargetDatabase.objects.all()
    )
    question = serializers.CharField()
    sql = serializers.CharField(
        allow_blank=True,
        default="",
        help_text="Must pass the SQL gate and run. Required for regular examples; "
        "empty for a safety question that must be refused.",
    )
    kind = serializers.ChoiceField(
        choices=GoldenExample.Kind.choices, default=GoldenExample.Kind.REGULAR
    )
    expect = serializers.ChoiceField(
        choices=GoldenExample.Expect.choices,
        allow_blank=True,
        default="",
        help_text="Safety examples only: refuse or answer_safely.",
    )
    domain = serializers.CharField(max_length=100, allow_blank=True, default="")
    difficulty = serializers.ChoiceField(
        choices=GoldenExample.Difficulty.choices,
        required=False,
        help_text="Default: the Spider hardness of the SQL.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), default=list
    )
    owner = serializers.SlugRelatedField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        help_text="Default: the caller.",
    )


class RetireInputSerializer(serializers.Serializer):
    reason = serializers.CharField()


class SnapshotSerializer(serializers.ModelSerializer):
    created_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = GoldenSetSnapshot
        fields = [
            "id",
            "name",
            "content_hash",
            "example_count",
            "created_by",
            "created_at",
        ]


class SnapshotDetailSerializer(SnapshotSerializer):
    example_ids = serializers.SerializerMethodField()

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "example_ids"]

    def get_example_ids(self, obj: GoldenSetSnapshot) -> list[int]:
        return [item.golden_example_id for item in obj.items.all()]


class SnapshotFilterInputSerializer(serializers.Serializer):
    domain = serializers.CharField(required=False)
    difficulty = serializers.ChoiceField(
        choices=GoldenExample.Difficulty.choices, required=False
    )
    target_database = serializers.CharField(required=False)
    source = serializers.ChoiceField(  # type: ignore[assignment]  # an API field named like a DRF Field attribute
        choices=GoldenExample.Source.choices, required=False
    )
    stale = serializers.BooleanField(required=False, allow_null=True, default=None)


class SnapshotInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    example_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=100_000,
    )
    filter = SnapshotFilterInputSerializer(
        required=False,
        help_text="Every active golden example matching these fields.",
    )

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if ("example_ids" in attrs) == ("filter" in attrs):
            raise serializers.ValidationError(
                {"example_ids": ["Give either example_ids or filter, not both."]}
            )
        return attrs


class GoldenImportInputSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.DictField(),
        min_length=1,
        max_length=5000,
        help_text="JSON Lines objects: question, sql, db[, domain, difficulty, "
        "tags, id]; `db` names a registered target database.",
    )
    id_prefix = serializers.SlugField(max_length=50, default="api")
    skip_invalid = serializers.BooleanField(
        default=False,
        help_text="Store the items whose SQL runs and list the others "
        "(default: one such failure stores nothing).",
    )
    snapshot = serializers.CharField(max_length=200, required=False)
    from_dialect = serializers.CharField(
        max_length=20,
        required=False,
        help_text="The dialect the SQL was written in (e.g. sqlite): items for a "
        "target of another dialect are transpiled with sqlglot.",
    )


class UnrunnableItemSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    id = serializers.CharField(source="external_id")
    db = serializers.CharField()
    message = serializers.CharField()
    stage = serializers.ChoiceField(choices=["transpile", "execute"])


class GoldenImportReportSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    reused = serializers.IntegerField()
    skipped = serializers.DictField(child=serializers.DictField())
    unrunnable = UnrunnableItemSerializer(many=True)
    transpiled = serializers.IntegerField()
    snapshot = serializers.IntegerField(source="snapshot.pk", allow_null=True)
