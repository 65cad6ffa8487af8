"""Records of the retraining cycle: dataset snapshots and the cycles themselves.

They keep the `governance` app label (`Meta.app_label`): their tables,
migrations and permission codenames were created in governance and stay there.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from audit.appendonly import AppendOnlyModel


class DatasetSnapshot(AppendOnlyModel):
    """Approved corrections and feedback statistics of one window, frozen.

    `content_hash` covers the template, the window, every row and the feedback
    statistics (not the code version or the creation time), so building the same
    window again from the same stored data gives the same hash and the same row.
    """

    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    content_hash = models.CharField(max_length=64, editable=False)
    window_start = models.DateTimeField(
        null=True, blank=True, help_text="Exclusive; empty means from the start."
    )
    window_end = models.DateTimeField(help_text="Inclusive.")
    code_version = models.CharField(max_length=64, blank=True)
    # {"schema_version", "template", "window", "code_version", "counts", "ids",
    #  "feedback", "previous", "content_hash"}: what an auditor reads.
    manifest = models.JSONField(default=dict)
    # One object per approved correction (question, SQL, segment, provenance ids).
    rows = models.JSONField(default=list)
    previous = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "governance"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "content_hash"], name="datasetsnapshot_once"
            )
        ]

    def __str__(self) -> str:
        return f"dataset #{self.pk} {self.template} ({self.content_hash[:10]})"


class RetrainingCycle(models.Model):
    """One run of collect, validate, build, evaluate, decide for a template.

    `steps` lists each step with its status, timings and numbers. A cycle that
    stopped (crash, timeout, shadow traffic still arriving) is resumed by the
    next run for its template; one dataset snapshot has at most one cycle.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        SHADOWING = "shadowing", "Serving the challenger in shadow"
        COMPLETED = "completed"
        FAILED = "failed"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        SCHEDULE = "schedule"

    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.RUNNING, db_index=True
    )
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the weekly schedule ran it.",
    )
    dataset = models.ForeignKey(
        DatasetSnapshot,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="cycles",
    )
    golden_snapshot = models.ForeignKey(
        "evaluation.GoldenSetSnapshot",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    champion_prompt = models.ForeignKey(
        "registry.PromptVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    champion_model = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    challenger_prompt = models.ForeignKey(
        "registry.PromptVersion",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    challenger_model = models.ForeignKey(
        "registry.ModelVersion",
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
    challenger_run = models.ForeignKey(
        "evaluation.EvaluationRun",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decision = models.ForeignKey(
        "governance.DecisionLogEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    promotion_request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    options = models.JSONField(default=dict, blank=True)
    steps = models.JSONField(default=list, blank=True)
    validation = models.JSONField(default=dict, blank=True)
    comparison = models.JSONField(default=dict, blank=True)
    online_comparison = models.JSONField(default=dict, blank=True)
    training_export = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Step progress is in `steps`; history records the status changes.
    history = HistoricalRecords(excluded_fields=["steps"])

    class Meta:
        app_label = "governance"
        ordering = ["-started_at", "-id"]
        permissions = [("run_retrainingcycle", "Can run a retraining cycle")]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset"], name="retrainingcycle_once_per_dataset"
            ),
            models.UniqueConstraint(
                fields=["template"],
                condition=models.Q(status__in=["running", "shadowing"]),
                name="retrainingcycle_one_active_per_template",
            ),
        ]

    def __str__(self) -> str:
        return f"cycle #{self.pk} {self.template} ({self.status})"
