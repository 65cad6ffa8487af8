"""Records of review quality: guideline versions, blind verdicts, calibration.

Imported by `feedback.models`, which registers them with the app. Guideline
versions, verdicts and calibration answers are written once (`AppendOnlyModel`):
a reviewer's verdict is evidence for the agreement figures, so it never changes.
"""

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from audit.appendonly import AppendOnlyModel


class GuidelineVersion(AppendOnlyModel):
    """One version of the review guidelines; a change is a new version.

    The version in force at a moment is the highest-numbered one whose
    `effective_at` has passed; every review decision records it.
    """

    number = models.PositiveIntegerField(unique=True, editable=False)
    text = models.TextField()
    effective_at = models.DateTimeField(db_index=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"guidelines v{self.number}"


class Verdict(models.TextChoices):
    """What a reviewer says of an item: the correction (or the answer) is right."""

    APPROVE = "approve", "Approve: it is right"
    REJECT = "reject", "Reject: it is wrong"


class ReviewVerdict(AppendOnlyModel):
    """One senior analyst's blind verdict on a double-reviewed item."""

    item = models.ForeignKey(
        "feedback.ReviewItem", on_delete=models.PROTECT, related_name="verdicts"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    reason = models.TextField(blank=True)
    guideline_version = models.ForeignKey(
        GuidelineVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["item", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "reviewer"], name="reviewverdict_once_per_reviewer"
            )
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on review {self.item_id}"


class CalibrationItem(models.Model):
    """A decided review item whose outcome is known: new reviewers review it first."""

    item = models.OneToOneField(
        "feedback.ReviewItem", on_delete=models.PROTECT, related_name="calibration"
    )
    expected = models.CharField(max_length=10, choices=Verdict.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"calibration #{self.pk} (review {self.item_id})"


class CalibrationAnswer(AppendOnlyModel):
    """A reviewer's answer to one calibration item, compared with the expected one."""

    calibration_item = models.ForeignKey(
        CalibrationItem, on_delete=models.PROTECT, related_name="answers"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verdict = models.CharField(max_length=10, choices=Verdict.choices)
    guideline_version = models.ForeignKey(
        GuidelineVersion,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["calibration_item", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["calibration_item", "reviewer"],
                name="calibrationanswer_once_per_reviewer",
            )
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id}: {self.verdict} on #{self.calibration_item_id}"
