"""Staged rollouts: the per-template policy, each rollout, its stage records and
the alert its automatic rollback sends.

The models keep the `governance` app label and are imported by
`governance.models`. Services live in `governance.rollouts` (start) and
`governance.rollout_steps` (advance, roll back, sign off).
"""

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from audit.appendonly import AppendOnlyModel


def default_stages() -> list[dict[str, object]]:
    return [
        {"name": "pilot", "share": 0.05},
        {"name": "limited", "share": 0.25},
        {"name": "broad", "share": 1.0},
    ]


def check_stage_list(stages: Any) -> list[dict[str, Any]]:
    """Named stages whose shares rise strictly within (0, 1], normalised;
    ValueError saying what is wrong otherwise."""
    if not isinstance(stages, list) or not stages:
        raise ValueError("Give at least one stage.")
    checked: list[dict[str, Any]] = []
    previous = 0.0
    for stage in stages:
        if not isinstance(stage, dict) or not str(stage.get("name", "")).strip():
            raise ValueError('Each stage is {"name": ..., "share": ...}.')
        share = stage.get("share")
        if (
            isinstance(share, bool)
            or not isinstance(share, int | float)
            or not previous < share <= 1
        ):
            raise ValueError(
                f"Stage {stage['name']!r}: shares rise strictly, within (0, 1]."
            )
        checked.append({"name": str(stage["name"]).strip(), "share": float(share)})
        previous = float(share)
    return checked


class RolloutPolicy(models.Model):
    """How an approved production promotion reaches production for a template.

    A template without a row is staged with these defaults (`rollout_policy_for`).
    """

    class Mode(models.TextChoices):
        STAGED = "staged", "Staged rollout with online gates"
        IMMEDIATE = "immediate", "Immediate: the approval moves production"

    template = models.OneToOneField(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.STAGED)
    stages = models.JSONField(
        default=default_stages,
        help_text='[{"name": "pilot", "share": 0.05}, ...]: shares rise, the last '
        "stage (1.0 serves every session outside the holdout) precedes production.",
    )
    min_sessions = models.PositiveIntegerField(
        default=200, help_text="Sessions each pair needs in a stage before a verdict."
    )
    alpha = models.FloatField(
        default=0.05, help_text="One-sided significance level of 'candidate worse'."
    )
    latency_tolerance = models.FloatField(
        default=0.10,
        help_text="Latency p95 may exceed production's by this fraction before the "
        "latency gate can fail.",
    )
    max_stage_hours = models.PositiveIntegerField(
        default=168,
        help_text="A stage still short of sessions after this long is rolled back "
        "as inconclusive.",
    )
    tier3_signoff_for_broad = models.BooleanField(
        default=True,
        help_text="Tier 3 needs a person's sign-off to enter the last stage.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "rollout policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(alpha__gt=0, alpha__lt=0.5),
                name="rolloutpolicy_alpha_0_to_half",
            ),
            models.CheckConstraint(
                condition=models.Q(latency_tolerance__gte=0),
                name="rolloutpolicy_latency_tolerance_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"rollout policy for {self.template}"

    def clean(self) -> None:
        try:
            self.stages = check_stage_list(self.stages)
        except ValueError as exc:
            raise ValidationError({"stages": str(exc)}) from None


class Rollout(models.Model):
    """One approved promotion on its way to production, stage by stage."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        AWAITING_SIGNOFF = "awaiting_signoff", "Awaiting sign-off for the last stage"
        COMPLETED = "completed", "Completed: production moved"
        ROLLED_BACK = "rolled_back", "Rolled back"
        ABORTED = "aborted", "Aborted by a person"

    request = models.OneToOneField(
        "governance.PromotionRequest", on_delete=models.PROTECT, related_name="rollout"
    )
    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    baseline_prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    baseline_model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    # The policy as it was when the rollout started: editing the policy later
    # never changes a rollout under way.
    policy = models.JSONField(default=dict)
    stage_index = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True
    )
    started_at = models.DateTimeField()
    stage_started_at = models.DateTimeField()
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_evidence = models.JSONField(default=dict, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [("signoff_rollout", "Can sign off a rollout's last stage")]
        constraints = [
            models.UniqueConstraint(
                fields=["template"],
                condition=models.Q(status__in=["active", "awaiting_signoff"]),
                name="rollout_one_open_per_template",
            )
        ]

    def __str__(self) -> str:
        return f"rollout #{self.pk} {self.template} ({self.status})"

    @property
    def stage(self) -> dict[str, object]:
        stages: list[dict[str, object]] = self.policy["stages"]
        return stages[self.stage_index]

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.AWAITING_SIGNOFF)


class RolloutStage(AppendOnlyModel):
    """One event of a rollout's stages, written once: an entry, a verdict with
    its evidence, a sign-off."""

    class Verdict(models.TextChoices):
        ENTERED = "entered", "Entered"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed: rolled back"
        INCONCLUSIVE = "inconclusive", "Inconclusive past its maximum age"
        AWAITING_SIGNOFF = "awaiting_signoff", "Passed; awaiting sign-off"
        SIGNED_OFF = "signed_off", "Signed off"
        ABORTED = "aborted", "Aborted: rolled back by a person"

    rollout = models.ForeignKey(
        Rollout, on_delete=models.PROTECT, related_name="stages"
    )
    stage = models.CharField(max_length=30)
    share = models.DecimalField(max_digits=5, decimal_places=4)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    evidence = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.rollout}: {self.stage} {self.verdict}"


class RolloutAlert(models.Model):
    """The mail and signed webhook sent when a rollout is rolled back; delivery
    state is kept so retries never resend (see evaluation.runs.alerts)."""

    rollout = models.OneToOneField(
        Rollout, on_delete=models.PROTECT, related_name="alert"
    )
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    last_delivery_error = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"alert for {self.rollout}"
