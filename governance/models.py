from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

# The fields an approver's risk assessment answers unless a policy says others.
DEFAULT_RISK_FIELDS = (
    ("impact", "Impact if the release is wrong"),
    ("affected_users", "Affected users and tenants"),
    ("data_sensitivity", "Data sensitivity"),
    ("mitigations", "Mitigations"),
    ("rollback_plan", "Rollback plan"),
)


def default_risk_fields() -> list[dict[str, str]]:
    return [{"name": name, "label": label} for name, label in DEFAULT_RISK_FIELDS]


class GovernancePolicy(models.Model):
    """Per-template thresholds for gates, triggers and the circuit breaker.

    A template without a row uses the field defaults (see `selectors.policy_for`).
    Fractions are on the [0, 1] scale of evaluation summaries: 0.02 is 2 points.
    """

    template = models.OneToOneField(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    regression_threshold = models.FloatField(
        default=0.02, help_text="Largest allowed per-segment accuracy drop."
    )
    min_segment_n = models.PositiveIntegerField(
        default=30,
        help_text="A segment drop beyond the threshold blocks when significant or "
        "on at least this many items; on fewer it is underpowered (acknowledged).",
    )
    latency_slo_ms = models.FloatField(
        default=5000.0, help_text="Generation latency p95 must stay within this."
    )
    degradation_threshold = models.FloatField(
        default=0.02, help_text="Production drop below its baseline that fires."
    )
    feedback_window_days = models.PositiveSmallIntegerField(default=1)
    feedback_history_windows = models.PositiveSmallIntegerField(default=14)
    feedback_sigma = models.FloatField(default=2.0)
    feedback_min_interactions = models.PositiveIntegerField(default=20)
    data_volume_threshold = models.PositiveIntegerField(
        default=25, help_text="New golden examples since the last retraining."
    )
    calendar_cadence_days = models.PositiveSmallIntegerField(
        default=7, help_text="0 turns the calendar trigger off."
    )
    circuit_breaker_margin = models.FloatField(
        default=0.05, help_text="Drop below the template's best run that halts."
    )
    risk_assessment_fields = models.JSONField(
        default=default_risk_fields,
        help_text='Fields tier 2/3 approvers answer: [{"name", "label"}].',
    )
    card_accuracy_floor = models.FloatField(
        default=0.6, help_text="Model cards list segments below this accuracy."
    )
    card_min_segment_examples = models.PositiveIntegerField(
        default=30, help_text="Model cards call segments with fewer underpowered."
    )
    finetune_min_corrections = models.PositiveIntegerField(
        default=200, help_text="Classified corrections a fine-tuning export needs."
    )
    finetune_min_class_volume = models.PositiveIntegerField(
        default=50, help_text="Corrections of one stable error class it needs."
    )
    finetune_max_drift = models.FloatField(
        default=0.3, help_text="Largest error-class drift it tolerates."
    )
    # Input drift: one feature's population stability index above the threshold
    # (0.2: the usual "significant shift") between the two windows fires.
    drift_psi_threshold = models.FloatField(default=0.2)
    drift_current_days = models.PositiveSmallIntegerField(default=7)
    drift_baseline_days = models.PositiveSmallIntegerField(default=28)
    safety_violation_rate = models.FloatField(
        default=0.02, help_text="Accepted share of a day's unsafe interactions."
    )
    diversity_collapse_ratio = models.FloatField(
        default=0.5, help_text="Share of last window's SQL shapes that collapses."
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "governance policies"

    def __str__(self) -> str:
        return f"policy for {self.template}"


class TriggerEvent(models.Model):
    """A retraining trigger that fired, with the evidence that made it fire."""

    class Kind(models.TextChoices):
        METRIC_DEGRADATION = "metric_degradation", "Metric degradation"
        FEEDBACK_SPIKE = "feedback_spike", "Negative-feedback spike"
        DATA_VOLUME = "data_volume", "Data volume"
        CALENDAR = "calendar", "Calendar"
        EVENT = "event", "Event raised by a person"
        INPUT_DRIFT = "input_drift", "Input drift"
        SAFETY_VIOLATION = "safety_violation", "Safety violations"
        OUTPUT_DIVERSITY = "output_diversity", "Output diversity collapse"
        HOLDOUT_DRIFT = "holdout_drift", "Production drifted from the holdout"

    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices, db_index=True)
    fired_at = models.DateTimeField(db_index=True)
    evidence = models.JSONField(default=dict, blank=True)
    # Stops a condition that persists from firing on every check.
    dedup_key = models.CharField(max_length=200)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        permissions = [("check_triggers", "Can run the trigger check on demand")]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "kind", "dedup_key"], name="trigger_fires_once"
            )
        ]

    def __str__(self) -> str:
        return (
            f"{self.get_kind_display()} on {self.template} at {self.fired_at:%Y-%m-%d}"
        )


class DecisionLogEntry(models.Model):
    """One link of the tamper-evident retraining decision log.

    A `decision` entry records who decided what and why. An `outcome` entry
    amends an earlier decision (deployment, rejection) without changing it, so
    the log stays append-only. `entry_hash` covers the canonical content and
    `previous_hash`; see `governance.chain`.
    """

    class Kind(models.TextChoices):
        DECISION = "decision"
        OUTCOME = "outcome"

    class Decision(models.TextChoices):
        RETRAIN = "retrain"
        DEFER = "defer"
        INVESTIGATE = "investigate"
        HALT = "halt"
        ROLLBACK = "rollback"
        RESUME = "resume"
        REBASELINE = "rebaseline"

    class Outcome(models.TextChoices):
        DEPLOYED = "deployed"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"

    sequence = models.PositiveBigIntegerField(unique=True, editable=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amends = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="outcomes"
    )
    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system decided (a trigger, a breaker).",
    )
    decision = models.CharField(
        max_length=12, choices=Decision.choices, blank=True, db_index=True
    )
    outcome = models.CharField(max_length=12, choices=Outcome.choices, blank=True)
    trigger = models.ForeignKey(
        TriggerEvent,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    rationale = models.TextField()
    data_snapshot_ref = models.CharField(
        max_length=200, blank=True, help_text="Dataset manifest id."
    )
    data_snapshot_hash = models.CharField(max_length=64, blank=True)
    prompt_version = models.ForeignKey(
        "registry.PromptVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    evaluation_summary = models.JSONField(default=dict, blank=True)
    # [{"username": ..., "role": ...}] copied at decision time.
    approvers = models.JSONField(default=list, blank=True)
    approver_names = models.CharField(
        max_length=500, blank=True, db_index=True, help_text="For filtering."
    )
    deployed_at = models.DateTimeField(null=True, blank=True)
    previous_hash = models.CharField(max_length=64, editable=False)
    entry_hash = models.CharField(max_length=64, unique=True, editable=False)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "decision log entries"
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(kind="decision") & ~models.Q(decision=""))
                | (models.Q(kind="outcome") & ~models.Q(outcome="")),
                name="decisionlogentry_kind_has_value",
            )
        ]

    def __str__(self) -> str:
        what = self.decision or self.outcome
        return f"#{self.sequence} {self.kind} {what} ({self.template})"


class DecisionLogHead(models.Model):
    """The chain's tip: appends lock this single row, so the chain cannot fork."""

    sequence = models.PositiveBigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"head #{self.sequence}"


class PromotionRequest(models.Model):
    """A request to point a template's label at a (prompt, model) pair.

    Gates, tier and `content_hash` are computed by `governance.promotions`;
    approvals count only while their hash equals the request's.
    """

    class Kind(models.TextChoices):
        PROMOTION = "promotion"
        ROLLBACK = "rollback"
        BASELINE = "baseline"

    class Status(models.TextChoices):
        PENDING = "pending"
        PROMOTED = "promoted"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"

    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PROMOTION)
    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    label_name = models.CharField(max_length=20, default="production")
    prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    candidate_run = models.ForeignKey(
        "evaluation.EvaluationRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    champion_run = models.ForeignKey(
        "evaluation.EvaluationRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decision = models.ForeignKey(
        DecisionLogEntry, on_delete=models.PROTECT, related_name="promotion_requests"
    )
    tier = models.PositiveSmallIntegerField()
    gates = models.JSONField(default=list, blank=True)
    gates_passed = models.BooleanField(default=False)
    rationale = models.TextField()
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system requested (the retraining cycle).",
    )
    override_reason = models.TextField(blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    content_hash = models.CharField(max_length=64, editable=False)
    risk_assessment_hash = models.CharField(
        max_length=64, blank=True, help_text="Of the current risk assessment."
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("approve_promotionrequest", "Can approve or reject promotion requests"),
            ("override_gate", "Can override a failed promotion gate with a reason"),
            ("rollback_label", "Can roll a label back on the incident fast path"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.template}:{self.label_name}"


class Approval(models.Model):
    """One reviewer's verdict on one version (content hash) of a request."""

    class Verdict(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"

    request = models.ForeignKey(
        PromotionRequest, on_delete=models.PROTECT, related_name="approvals"
    )
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(max_length=30, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    comment = models.TextField(blank=True)
    content_hash = models.CharField(max_length=64)
    # Nullable without a default: SQLite then adds the column in place instead of
    # rebuilding the table, which would drop its append-only triggers.
    acknowledged_underpowered = models.JSONField(
        null=True,
        blank=True,
        help_text="Segments with an underpowered drop the approver acknowledged.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver", "content_hash"],
                name="approval_once_per_person_and_content",
            )
        ]

    def __str__(self) -> str:
        return f"{self.verdict} by {self.approver} on #{self.request_id}"

    @property
    def is_void(self) -> bool:
        """True when the request changed after this verdict was given."""
        return self.content_hash != self.request.content_hash


class ReleaseNote(models.Model):
    """Written once when a promotion takes effect; rendered as Markdown."""

    request = models.OneToOneField(
        PromotionRequest, on_delete=models.PROTECT, related_name="release_note"
    )
    decision = models.ForeignKey(
        DecisionLogEntry, on_delete=models.PROTECT, related_name="+"
    )
    content = models.JSONField(default=dict)
    markdown = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"release notes for {self.request}"


from governance.breaker_models import CircuitBreaker  # noqa: E402
from governance.card_models import ModelCard, RiskAssessment  # noqa: E402
from governance.holdout_models import HoldoutReport  # noqa: E402

__all__ = [
    "Approval",
    "CircuitBreaker",
    "DecisionLogEntry",
    "DecisionLogHead",
    "GovernancePolicy",
    "HoldoutReport",
    "ModelCard",
    "PromotionRequest",
    "ReleaseNote",
    "RiskAssessment",
    "TriggerEvent",
]
