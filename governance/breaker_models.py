"""The circuit breaker that halts automatic retraining for a template.

Its model keeps the `governance` app label and is imported by `governance.models`.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class CircuitBreaker(models.Model):
    """Halts automatic retraining for a template until an ML lead resets it."""

    template = models.OneToOneField(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    halted = models.BooleanField(default=False)
    halted_at = models.DateTimeField(null=True, blank=True)
    halt_decision = models.ForeignKey(
        "governance.DecisionLogEntry",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reset_at = models.DateTimeField(null=True, blank=True)
    reset_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reset_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        permissions = [("reset_circuitbreaker", "Can reset a halted circuit breaker")]

    def __str__(self) -> str:
        return f"{self.template}: {'halted' if self.halted else 'closed'}"
