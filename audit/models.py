from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """One governed action, written by the service that performs it.

    Append-only: `audit.services.record_event` creates rows; database triggers
    refuse updates and deletes (`audit.appendonly.APPEND_ONLY_TABLES`). The table
    keeps the name it was created with in the governance app.
    """

    event_type = models.CharField(max_length=80, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty when the system acted on its own.",
    )
    subject_type = models.CharField(max_length=80)
    subject_id = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "governance_auditevent"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.subject_type}:{self.subject_id}"
