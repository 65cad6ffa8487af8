from django.contrib.auth.models import User
from rest_framework import serializers

from evaluation.models import EvaluationRun
from governance import gates
from governance.models import (
    Approval,
    CircuitBreaker,
    DecisionLogEntry,
    ModelCard,
    PromotionRequest,
    ReleaseNote,
    RiskAssessment,
    Rollout,
    RolloutStage,
    TriggerEvent,
)
from governance.rollout_abort import MAX_REASON
from registry.models import ModelVersion, PromptTemplate, PromptVersion

EXPORT_FIELDS = [
    "sequence",
    "kind",
    "amends_sequence",
    "template",
    "decided_at",
    "decided_by",
    "decision",
    "outcome",
    "trigger",
    "rationale",
    "data_snapshot_ref",
    "data_snapshot_hash",
    "prompt_version",
    "model_version",
    "evaluation_summary",
    "approvers",
    "deployed_at",
    "previous_hash",
    "entry_hash",
]


class DecisionLogEntrySerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    decided_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    amends_sequence = serializers.IntegerField(
        source="amends.sequence", read_only=True, allow_null=True
    )
    deployed_at = serializers.SerializerMethodField()

    class Meta:
        model = DecisionLogEntry
        fields = ["id", *EXPORT_FIELDS]

    def get_deployed_at(self, obj: DecisionLogEntry) -> str | None:
        value = obj.deployed_at or getattr(obj, "deployment_at", None)
        return value.isoformat() if value else None


# Decisions a person may log by hand: a rebaseline is logged only by the holdout's
# services, with the old and new pairs, as the baseline actually changes.
PERSON_DECISIONS = [
    choice
    for choice in DecisionLogEntry.Decision.choices
    if choice[0] != DecisionLogEntry.Decision.REBASELINE
]


class DecisionInputSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=PromptTemplate.objects.all()
    )
    decision = serializers.ChoiceField(choices=PERSON_DECISIONS)
    rationale = serializers.CharField()
    trigger = serializers.PrimaryKeyRelatedField(
        queryset=TriggerEvent.objects.all(), required=False, allow_null=True
    )
    data_snapshot_ref = serializers.CharField(required=False, default="")
    data_snapshot_hash = serializers.CharField(
        required=False, default="", max_length=64
    )


class ApprovalSerializer(serializers.ModelSerializer):
    approver: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    void = serializers.BooleanField(source="is_void", read_only=True)

    class Meta:
        model = Approval
        fields = [
            "approver",
            "role",
            "verdict",
            "comment",
            "acknowledged_underpowered",
            "void",
            "created_at",
        ]


class PromotionRequestSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    requested_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    decision_sequence = serializers.IntegerField(source="decision.sequence")
    approvals = ApprovalSerializer(many=True, read_only=True)
    underpowered = serializers.SerializerMethodField(
        help_text="Segments whose drop an approval must acknowledge "
        "(acknowledge_underpowered)."
    )

    class Meta:
        model = PromotionRequest
        fields = [
            "id",
            "kind",
            "template",
            "label_name",
            "prompt_version",
            "model_version",
            "candidate_run",
            "champion_run",
            "decision_sequence",
            "tier",
            "gates",
            "gates_passed",
            "underpowered",
            "rationale",
            "requested_by",
            "override_reason",
            "content_hash",
            "status",
            "created_at",
            "closed_at",
            "approvals",
        ]

    def get_underpowered(self, obj: PromotionRequest) -> list[str]:
        return gates.underpowered_segments(obj.gates)


class PromotionInputSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=PromptTemplate.objects.all()
    )
    prompt_version = serializers.PrimaryKeyRelatedField(
        queryset=PromptVersion.objects.all()
    )
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all()
    )
    candidate_run = serializers.PrimaryKeyRelatedField(
        queryset=EvaluationRun.objects.all()
    )
    rationale = serializers.CharField()
    label_name = serializers.CharField(required=False, default="production")


class PromotionEditSerializer(serializers.Serializer):
    rationale = serializers.CharField(required=False)
    candidate_run = serializers.PrimaryKeyRelatedField(
        queryset=EvaluationRun.objects.all(), required=False
    )
    prompt_version = serializers.PrimaryKeyRelatedField(
        queryset=PromptVersion.objects.all(), required=False
    )
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(), required=False
    )


class ReviewInputSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")
    content_hash = serializers.CharField(
        required=False, max_length=64, help_text="The hash you reviewed."
    )
    risk_assessment = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=5000),
        required=False,
        help_text="Answers by field of the policy's risk assessment (tier 2 and 3; "
        "tier 3 cannot be approved without one). Written before the approval.",
    )
    acknowledge_underpowered = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Required (true) to approve while a segment drop is underpowered: "
        "too few items to block on, acknowledged rather than overridden.",
    )


class RiskAssessmentInputSerializer(serializers.Serializer):
    answers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=5000),
        help_text="One answer per field the template's policy defines.",
    )
    content_hash = serializers.CharField(required=False, max_length=64)


class RiskAssessmentSerializer(serializers.ModelSerializer):
    author: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = RiskAssessment
        fields = [
            "id",
            "request",
            "fields",
            "answers",
            "author",
            "role",
            "content_hash",
            "created_at",
        ]


class ModelCardSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelCard
        fields = ["id", "request", "version", "final", "content_hash", "created_at"]


class GovernanceReasonInputSerializer(serializers.Serializer):
    reason = serializers.CharField()
    content_hash = serializers.CharField(required=False, max_length=64)


class ReleaseNoteSerializer(serializers.ModelSerializer):
    decision_sequence = serializers.IntegerField(source="decision.sequence")

    class Meta:
        model = ReleaseNote
        fields = ["request", "decision_sequence", "content", "markdown", "created_at"]


class RollbackInputSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=PromptTemplate.objects.all()
    )
    label_name = serializers.CharField(required=False, default="production")
    reason = serializers.CharField()


class TriggerEventSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    raised_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )
    decision_sequences = serializers.SerializerMethodField()

    class Meta:
        model = TriggerEvent
        fields = [
            "id",
            "template",
            "kind",
            "fired_at",
            "evidence",
            "raised_by",
            "reason",
            "decision_sequences",
        ]

    def get_decision_sequences(self, obj: TriggerEvent) -> list[int]:
        return [entry.sequence for entry in obj.decisions.all()]


class EventTriggerInputSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="name", queryset=PromptTemplate.objects.all()
    )
    reason = serializers.CharField()
    category = serializers.ChoiceField(
        choices=["product_change", "regulation", "incident", "other"], default="other"
    )
    decision = serializers.ChoiceField(choices=PERSON_DECISIONS, default="investigate")


class TriggerCheckInputSerializer(serializers.Serializer):
    template = serializers.SlugRelatedField(
        slug_field="name",
        queryset=PromptTemplate.objects.all(),
        required=False,
        allow_null=True,
    )


class CircuitBreakerSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    reset_by: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    halt_decision_sequence = serializers.IntegerField(
        source="halt_decision.sequence", allow_null=True, read_only=True
    )

    class Meta:
        model = CircuitBreaker
        fields = [
            "template",
            "halted",
            "halted_at",
            "halt_decision_sequence",
            "reset_at",
            "reset_by",
            "reset_reason",
        ]


class VerificationSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    entries = serializers.IntegerField()
    head = serializers.DictField()
    verified = serializers.ListField(child=serializers.CharField())
    problems = serializers.ListField(child=serializers.CharField())
    not_covered = serializers.ListField(child=serializers.CharField())


class RolledBackLabelSerializer(serializers.Serializer):
    template = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # an API field named like a DRF Field attribute
    prompt_version = serializers.IntegerField()
    model_version = serializers.IntegerField()


class RolloutStageSerializer(serializers.ModelSerializer):
    actor: serializers.SlugRelatedField[User] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = RolloutStage
        fields = ["stage", "share", "verdict", "evidence", "actor", "created_at"]


class RolloutSerializer(serializers.ModelSerializer):
    template: serializers.SlugRelatedField[PromptTemplate] = (
        serializers.SlugRelatedField(slug_field="name", read_only=True)
    )
    stage = serializers.SerializerMethodField()
    stages = RolloutStageSerializer(many=True, read_only=True)

    class Meta:
        model = Rollout
        fields = [
            "id",
            "template",
            "request",
            "status",
            "prompt_version",
            "model_version",
            "baseline_prompt_version",
            "baseline_model_version",
            "stage",
            "stage_index",
            "policy",
            "started_at",
            "stage_started_at",
            "last_checked_at",
            "finished_at",
            "stages",
        ]

    def get_stage(self, obj: Rollout) -> str:
        return str(obj.stage["name"])


class RolloutAbortInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON)
