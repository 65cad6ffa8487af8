"""API shapes. Input serializers document the ingestion payloads for OpenAPI;
validation itself runs in feedback.events (fast, per item, field-precise)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from feedback.categories import TAXONOMY_VERSION, TOPICS, allowed_topics_text
from feedback.events import CONSENT_SCOPES, FEEDBACK_CATEGORY, OUTCOMES, ROLE_WEIGHTS
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from feedback.quality_models import Verdict
from registry.models import PromptTemplate
from targets.models import TargetDatabase


class InteractionInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["interaction"], required=False)
    event_id = serializers.UUIDField(help_text="Client UUID; the idempotency key.")
    trace_id = serializers.CharField(max_length=100, required=False)
    session_id = serializers.CharField(max_length=200, required=False)
    user_id = serializers.CharField(
        max_length=200, help_text="Stored only as a keyed pseudonym."
    )
    analyst_id = serializers.CharField(max_length=200, required=False)
    tenant_id = serializers.CharField(max_length=100)
    task_type = serializers.CharField(max_length=50)
    question = serializers.CharField(help_text="Redacted before storage.")
    generated_sql = serializers.CharField(required=False)
    prompt_version = serializers.IntegerField(help_text="Id from resolve.")
    model_version = serializers.IntegerField(help_text="Id from resolve.")
    retrieval_ids = serializers.ListField(child=serializers.CharField(), required=False)
    knowledge_version = serializers.CharField(required=False)
    output_tokens = serializers.IntegerField(min_value=0, required=False)
    input_tokens = serializers.IntegerField(min_value=0, required=False)
    reported_model = serializers.CharField(
        max_length=200,
        required=False,
        help_text="The model that answered, as the assistant knows it.",
    )
    client_latency_ms = serializers.IntegerField(min_value=0, required=False)
    server_latency_ms = serializers.IntegerField(min_value=0, required=False)
    outcome = serializers.ChoiceField(choices=sorted(OUTCOMES))
    country = serializers.CharField(min_length=2, max_length=2, required=False)
    consent_scope = serializers.ChoiceField(choices=sorted(CONSENT_SCOPES))
    occurred_at = serializers.DateTimeField()


class FeedbackInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["feedback"], required=False)
    event_id = serializers.UUIDField(help_text="Client UUID; the idempotency key.")
    interaction_id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=sorted(FEEDBACK_CATEGORY))
    comment = serializers.CharField(required=False)
    corrected_sql = serializers.CharField(
        required=False,
        help_text="Required for corrections; must parse in the target's dialect.",
    )
    metric_name = serializers.CharField(required=False)
    value = serializers.FloatField(required=False)
    submitter_id = serializers.CharField(required=False)
    submitter_role = serializers.ChoiceField(
        choices=sorted(ROLE_WEIGHTS), required=False, default="end_user"
    )
    occurred_at = serializers.DateTimeField()
    topic = serializers.ChoiceField(
        choices=list(TOPICS),
        required=False,
        help_text=f"Feedback category (taxonomy {TAXONOMY_VERSION}): "
        f"{allowed_topics_text()}. Only wrong_answer (or no category) counts "
        "towards the negative-feedback trigger; safety counts as flagged in the "
        "safety-violation trigger.",
    )


class BatchInputSerializer(serializers.Serializer):
    events = serializers.ListField(
        child=serializers.DictField(),
        max_length=1000,
        help_text='Interaction or feedback events, each with "kind".',
    )


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    kind = serializers.CharField()
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["created", "duplicate", "invalid", "conflict"]
    )
    errors = serializers.DictField(  # type: ignore[assignment]  # an API field named like a DRF Field attribute
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class BatchResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    invalid = serializers.IntegerField()
    conflict = serializers.IntegerField()
    results = ItemResultSerializer(many=True)


class ConflictSerializer(serializers.Serializer):
    event_id = serializers.ListField(child=serializers.CharField())
    code = serializers.CharField()


class WidgetFeedbackInputSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    type = serializers.ChoiceField(
        choices=["thumbs_up", "thumbs_down", "comment", "correction"]
    )
    comment = serializers.CharField(required=False)
    corrected_sql = serializers.CharField(required=False)
    occurred_at = serializers.DateTimeField(required=False)


class WidgetResultSerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    status = serializers.CharField()


class InteractionSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )

    class Meta:
        model = Interaction
        fields = [
            "event_id",
            "trace_id",
            "session_id",
            "user_pseudonym",
            "analyst_pseudonym",
            "tenant_id",
            "task_type",
            "question",
            "question_hash",
            "generated_sql",
            "template",
            "prompt_version",
            "model_version",
            "retrieval_ids",
            "knowledge_version",
            "output_tokens",
            "input_tokens",
            "reported_model",
            "client_latency_ms",
            "server_latency_ms",
            "outcome",
            "country",
            "consent_scope",
            "redaction_flags",
            "channel",
            "occurred_at",
            "received_at",
        ]


class FeedbackSerializer(serializers.ModelSerializer):
    topic = serializers.SerializerMethodField(
        help_text=f"Current feedback category ({', '.join(TOPICS)}) or null."
    )

    def get_topic(self, obj: Feedback) -> str | None:
        if hasattr(obj, "current_topic"):
            return obj.current_topic
        latest = obj.topics.order_by("-created_at", "-id").first()
        return latest.topic if latest else None

    class Meta:
        model = Feedback
        fields = [
            "event_id",
            "interaction",
            "type",
            "category",
            "topic",
            "comment",
            "corrected_sql",
            "metric_name",
            "value",
            "submitter_pseudonym",
            "submitter_role",
            "weight",
            "redaction_flags",
            "channel",
            "occurred_at",
            "received_at",
        ]


class ReviewItemSerializer(serializers.ModelSerializer):
    question = serializers.CharField(source="interaction.question", read_only=True)
    generated_sql = serializers.CharField(
        source="interaction.generated_sql", read_only=True
    )
    corrected_sql = serializers.CharField(
        source="feedback.corrected_sql", read_only=True
    )
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    target_database: serializers.SlugRelatedField[TargetDatabase] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    claimed_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    escalated_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    segment_volume = serializers.IntegerField(read_only=True, default=None)
    negative_rate = serializers.FloatField(read_only=True, default=None)
    impact = serializers.FloatField(read_only=True, default=None)
    guideline_version = serializers.IntegerField(
        source="guideline_version.number", read_only=True, default=None
    )

    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "kind",
            "state",
            "double_review",
            "question",
            "generated_sql",
            "corrected_sql",
            "template",
            "target_database",
            "task_type",
            "question_hash",
            "weight",
            "segment_volume",
            "negative_rate",
            "impact",
            "check_status",
            "check_error",
            "result_rows",
            "disagreement",
            "claimed_by",
            "claimed_at",
            "escalated_by",
            "escalated_at",
            "escalation_reason",
            "decided_by",
            "decided_at",
            "decision_reason",
            "approved_sql",
            "error_taxonomy",
            "golden_example",
            "interaction",
            "feedback",
            "guideline_version",
            "created_at",
        ]


class ReviewItemDetailSerializer(ReviewItemSerializer):
    """One item; blind verdicts show only once both are in (adjudication, or
    decided), so the second reviewer never sees the first's."""

    verdicts = serializers.SerializerMethodField()

    class Meta(ReviewItemSerializer.Meta):
        fields = [*ReviewItemSerializer.Meta.fields, "verdicts"]

    def get_verdicts(self, item: ReviewItem) -> list[dict[str, Any]]:
        if item.state == ReviewItem.State.PENDING:
            return []
        return [
            {
                "reviewer": v.reviewer.get_username(),
                "verdict": v.verdict,
                "reason": v.reason,
                "guideline_version": (
                    v.guideline_version.number if v.guideline_version else None
                ),
                "created_at": v.created_at.isoformat(),
            }
            for v in item.verdicts.select_related("reviewer", "guideline_version")
        ]


class ReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=False, max_length=5000)


class RejectInputSerializer(ReasonInputSerializer):
    sql = serializers.CharField(
        required=False,
        max_length=100_000,
        help_text="Audit items only: the right SQL, stored as a correction that "
        "another senior analyst reviews.",
    )


class VerdictInputSerializer(serializers.Serializer):
    verdict = serializers.ChoiceField(choices=Verdict.choices)
    reason = serializers.CharField(
        allow_blank=True,
        default="",
        max_length=5000,
        help_text="Required when rejecting.",
    )


class ApproveInputSerializer(serializers.Serializer):
    reason = serializers.CharField(allow_blank=True, default="", max_length=5000)
    sql = serializers.CharField(
        required=False,
        max_length=100_000,
        help_text="Replaces the submitted correction (redacted, must execute).",
    )


class RecategorizeInputSerializer(serializers.Serializer):
    topic = serializers.ChoiceField(choices=list(TOPICS))
    reason = serializers.CharField(allow_blank=False, max_length=5000)


class FeedbackTopicSerializer(serializers.ModelSerializer):
    # A plain string: as a choice field its enum collides with GoldenExample's
    # `source` in the OpenAPI schema. The stubs type Field.source as a str.
    source = serializers.CharField(  # type: ignore[assignment]
        read_only=True, help_text="client or reviewer"
    )
    assigned_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = FeedbackTopic
        fields = [
            "feedback",
            "topic",
            "previous_topic",
            "taxonomy_version",
            "source",
            "assigned_by",
            "reason",
            "created_at",
        ]


class CategoryCountsQuerySerializer(serializers.Serializer):
    template = serializers.SlugField(required=False)
    start = serializers.DateTimeField(required=False)
    end = serializers.DateTimeField(required=False)


class ErrorTrendQuerySerializer(serializers.Serializer):
    template = serializers.SlugField()
    period_days = serializers.IntegerField(min_value=1, max_value=366, default=7)
    periods = serializers.IntegerField(min_value=1, max_value=52, default=4)
    end = serializers.DateTimeField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        end = attrs.get("end")
        if end is not None:
            span = timedelta(days=attrs["period_days"] * attrs["periods"])
            if end.year < 1970 or end - datetime.min.replace(tzinfo=UTC) <= span:
                raise serializers.ValidationError(
                    {"end": ["The window would start before 1970."]}
                )
        return attrs
