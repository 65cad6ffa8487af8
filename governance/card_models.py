"""Documents every promotion request carries: model cards and risk assessments.

Both are written once per version (append-only rows): a model card is
regenerated while its request is pending whenever its content changes, and a
risk assessment revised by an approver is a new row. Once the request is
decided the services refuse new versions, so what was decided stays as it was.
Their models keep the `governance` app label and are imported by
`governance.models`.
"""

from django.conf import settings
from django.db import models

from audit.appendonly import AppendOnlyModel


class ModelCard(AppendOnlyModel):
    """One version of a promotion request's model card (see model_cards)."""

    request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.PROTECT,
        related_name="model_cards",
    )
    version = models.PositiveIntegerField()
    content = models.JSONField(default=dict)
    content_hash = models.CharField(max_length=64)
    final = models.BooleanField(
        default=False, help_text="Written when the request was decided."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "governance"
        ordering = ["request", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "version"], name="modelcard_version_once"
            )
        ]

    def __str__(self) -> str:
        return f"model card v{self.version} of request #{self.request_id}"


class RiskAssessment(AppendOnlyModel):
    """An approver's risk assessment of a request; the latest row is current."""

    request = models.ForeignKey(
        "governance.PromotionRequest",
        on_delete=models.PROTECT,
        related_name="risk_assessments",
    )
    # The policy's field definitions when it was written, and the answers.
    fields = models.JSONField(default=list)
    answers = models.JSONField(default=dict)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(max_length=30)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "governance"
        ordering = ["request", "-created_at", "-id"]

    def __str__(self) -> str:
        return f"risk assessment of request #{self.request_id} by {self.author}"
