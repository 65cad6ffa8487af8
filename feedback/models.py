"""Feedback capture: append-only events and the review queue into the golden set.

`Interaction` and `Feedback` are append-only (see feedback.appendonly): their
primary key is the client's event id, which is also the idempotency key. Every
text column holds redacted text only; people are stored as keyed pseudonyms.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from audit.appendonly import AppendOnlyModel


class Interaction(AppendOnlyModel):
    """One assistant response, as the assistant reported it."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        SQL_ERROR = "sql_error", "SQL error"
        EMPTY_RESULT = "empty_result", "Empty result"
        TIMEOUT = "timeout", "Timeout"
        REFUSED = "refused", "Refused to answer"
        NOT_EXECUTED = "not_executed", "Not executed"

    class ConsentScope(models.TextChoices):
        # service_only: used to run the service, never reviewed or exported.
        SERVICE_ONLY = "service_only", "Service only"
        IMPROVEMENT = "improvement", "Quality improvement (review, evaluation)"
        TRAINING = "training", "Improvement and model training"

    class Channel(models.TextChoices):
        API = "api", "API"
        IMPORT = "import", "Import"
        WIDGET = "widget", "Widget"
        REVIEW = "review", "Review decision"

    event_id = models.UUIDField(primary_key=True, editable=False)
    fingerprint = models.CharField(
        max_length=64, editable=False, help_text="Keyed hash of the raw payload."
    )
    trace_id = models.CharField(max_length=100, blank=True)
    session_id = models.CharField(max_length=200, blank=True)
    user_pseudonym = models.CharField(max_length=24)
    analyst_pseudonym = models.CharField(max_length=24, blank=True)
    tenant_id = models.CharField(max_length=100)
    task_type = models.CharField(max_length=50)
    question = models.TextField()
    question_hash = models.CharField(max_length=64, db_index=True)
    generated_sql = models.TextField(blank=True)
    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    retrieval_ids = models.JSONField(default=list, blank=True)
    knowledge_version = models.CharField(max_length=100, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Nullable so that adding them kept the table (and its append-only triggers):
    # SQLite rebuilds a table to add a NOT NULL column, and the rebuild drops them.
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    reported_model = models.CharField(  # noqa: DJ001 (see above)
        max_length=200,
        null=True,
        blank=True,
        help_text="The model the assistant says answered (gen_ai.response.model).",
    )
    client_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    server_latency_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    country = models.CharField(max_length=2, blank=True)
    consent_scope = models.CharField(max_length=20, choices=ConsentScope.choices)
    redaction_flags = models.JSONField(default=list, blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The API client account that sent the event.",
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(
                fields=["template", "task_type", "occurred_at"],
                name="interaction_segment_idx",
            ),
            models.Index(fields=["occurred_at"], name="interaction_occurred_idx"),
        ]

    def __str__(self) -> str:
        return f"interaction {self.event_id}"


class Feedback(AppendOnlyModel):
    """One explicit, implicit or outcome signal about an interaction."""

    class Type(models.TextChoices):
        THUMBS_UP = "thumbs_up", "Thumbs up"
        THUMBS_DOWN = "thumbs_down", "Thumbs down"
        COMMENT = "comment", "Comment"
        CORRECTION = "correction", "Corrected SQL"
        EDITED = "edited", "Edited the SQL"
        COPIED = "copied", "Copied the SQL"
        RETRIED = "retried", "Retried"
        ABANDONED = "abandoned", "Abandoned"
        ESCALATED = "escalated", "Escalated to a person"
        TIME_TO_FIRST_ACTION = "time_to_first_action", "Time to first action (ms)"
        OUTCOME_METRIC = "outcome_metric", "Outcome metric"

    class Category(models.TextChoices):
        EXPLICIT = "explicit"
        IMPLICIT = "implicit"
        OUTCOME = "outcome"

    event_id = models.UUIDField(primary_key=True, editable=False)
    fingerprint = models.CharField(max_length=64, editable=False)
    interaction = models.ForeignKey(
        Interaction, on_delete=models.PROTECT, related_name="feedback"
    )
    type = models.CharField(max_length=30, choices=Type.choices)
    category = models.CharField(max_length=10, choices=Category.choices)
    comment = models.TextField(blank=True)
    corrected_sql = models.TextField(blank=True)
    metric_name = models.CharField(max_length=100, blank=True)
    value = models.FloatField(null=True, blank=True)
    submitter_pseudonym = models.CharField(max_length=24, blank=True)
    submitter_role = models.CharField(max_length=20)
    weight = models.FloatField(help_text="Trust weight of the submitter's role.")
    redaction_flags = models.JSONField(default=list, blank=True)
    channel = models.CharField(max_length=10, choices=Interaction.Channel.choices)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name_plural = "feedback"
        indexes = [models.Index(fields=["type"], name="feedback_type_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class ReviewItem(models.Model):
    """A correction, or a sampled answer, waiting for or carrying a decision.

    `correction` items review a submitted correction (approve: it becomes a
    golden example). `audit` items review an answer nobody corrected, sampled
    from traffic (approve: the answer was right; reject: it was wrong, recorded
    as feedback on the interaction, optionally with a correction).
    """

    class Kind(models.TextChoices):
        CORRECTION = "correction", "Correction"
        AUDIT = "audit", "Audit of uncorrected traffic"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        ADJUDICATION = "adjudication", "Needs adjudication"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class Check(models.TextChoices):
        UNCHECKED = "unchecked", "Not run yet"
        EXECUTED = "executed", "Executed"
        FAILED = "failed", "Failed"

    kind = models.CharField(
        max_length=10, choices=Kind.choices, default=Kind.CORRECTION, db_index=True
    )
    feedback = models.OneToOneField(
        Feedback,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="review_item",
        help_text="The correction under review; empty for audit items.",
    )
    interaction = models.ForeignKey(
        Interaction, on_delete=models.PROTECT, related_name="+"
    )
    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    target_database = models.ForeignKey(
        "targets.TargetDatabase", on_delete=models.PROTECT, related_name="+"
    )
    task_type = models.CharField(max_length=50)
    question_hash = models.CharField(max_length=64, db_index=True)
    weight = models.FloatField()
    state = models.CharField(
        max_length=20, choices=State.choices, default=State.PENDING, db_index=True
    )
    check_status = models.CharField(
        max_length=10, choices=Check.choices, default=Check.UNCHECKED
    )
    check_error = models.TextField(blank=True)
    result_digest = models.CharField(max_length=64, blank=True)
    result_rows = models.PositiveIntegerField(null=True, blank=True)
    disagreement = models.BooleanField(default=False)
    double_review = models.BooleanField(
        default=False,
        help_text="Reviewed blind by two senior analysts; a disagreement goes to "
        "adjudication.",
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    escalated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system sent it (disagreement).",
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalation_reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    approved_sql = models.TextField(blank=True)
    # {"version", "classes", "details", "segment"} from evaluation.error_taxonomy:
    # what kind of mistake the (approved, else submitted) correction fixed.
    error_taxonomy = models.JSONField(default=dict, blank=True)
    golden_example = models.OneToOneField(
        "evaluation.GoldenExample",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    guideline_version = models.ForeignKey(
        "feedback.GuidelineVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The review guidelines in force when the item was decided.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("review_reviewitem", "Can work the review queue (senior analyst)")
        ]
        indexes = [
            models.Index(
                fields=["target_database", "question_hash"],
                name="reviewitem_question_idx",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="audit") | models.Q(feedback__isnull=False),
                name="reviewitem_correction_has_feedback",
            ),
            models.UniqueConstraint(
                fields=["interaction"],
                condition=models.Q(kind="audit"),
                name="reviewitem_one_audit_per_interaction",
            ),
        ]

    def __str__(self) -> str:
        return f"review {self.pk} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in (
            self.State.PENDING,
            self.State.CLAIMED,
            self.State.ADJUDICATION,
        )


class FeedbackTopic(AppendOnlyModel):
    """One assignment of a category (topic) to explicit feedback.

    The client's category arrives with the event; a reviewer's re-categorization
    is a new row, so every change stays readable. The latest row is current.
    """

    class Source(models.TextChoices):
        CLIENT = "client", "Sent by the client"
        REVIEWER = "reviewer", "Re-categorized by a reviewer"

    feedback = models.ForeignKey(
        Feedback, on_delete=models.PROTECT, related_name="topics"
    )
    topic = models.CharField(max_length=30)
    taxonomy_version = models.CharField(max_length=40)
    source = models.CharField(max_length=10, choices=Source.choices)
    previous_topic = models.CharField(max_length=30, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("recategorize_feedback", "Can re-categorize feedback (reviewer)")
        ]
        indexes = [
            models.Index(
                fields=["feedback", "-created_at"], name="feedbacktopic_latest"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} for {self.feedback_id}"


# Models of the review-quality and privacy concepts live in their own modules;
# importing them here registers them with the app.
from feedback.privacy_models import PrivacyRequest  # noqa: E402
from feedback.quality_models import (  # noqa: E402
    CalibrationAnswer,
    CalibrationItem,
    GuidelineVersion,
    ReviewVerdict,
)

__all__ = [
    "CalibrationAnswer",
    "CalibrationItem",
    "Feedback",
    "FeedbackTopic",
    "GuidelineVersion",
    "Interaction",
    "PrivacyRequest",
    "ReviewItem",
    "ReviewVerdict",
]
