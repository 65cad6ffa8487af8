"""Privacy requests: consent revocation, erasure and retention runs.

Imported by `feedback.models`, which registers the model with the app. A
request names its subject only by the keyed pseudonym computed at ingest: the
raw user id is never stored.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class PrivacyRequest(models.Model):
    """A person's request (revocation, erasure) or a retention run, and its result."""

    class Kind(models.TextChoices):
        REVOCATION = "revocation", "Consent revocation"
        ERASURE = "erasure", "Erasure (revokes consent too)"
        RETENTION = "retention", "Retention run (free text past the period)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=12, choices=Kind.choices, db_index=True)
    subject_pseudonym = models.CharField(
        max_length=24,
        blank=True,
        db_index=True,
        help_text="The person's keyed pseudonym, as stored on their events; empty "
        "for retention runs.",
    )
    effective_at = models.DateTimeField(
        db_index=True,
        help_text="Revocation: when consent was withdrawn. Retention: the cutoff.",
    )
    reference = models.CharField(
        max_length=200, blank=True, help_text="Ticket or letter reference."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system ran it (retention).",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    # What was done: ids and counts per table and column, never the text.
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"
