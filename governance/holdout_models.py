"""The weekly holdout drift report: the frozen baseline against production.

Its model keeps the `governance` app label and is imported by `governance.models`.
"""

from django.db import models

from audit.appendonly import AppendOnlyModel


class HoldoutReport(AppendOnlyModel):
    """One week of holdout vs production online figures for a template.

    Written once per template and ISO week by `governance.holdout_drift`; the
    series of rows is the long-term drift of production against a baseline the
    loop never touched.
    """

    template = models.ForeignKey(
        "registry.PromptTemplate", on_delete=models.PROTECT, related_name="+"
    )
    week_start = models.DateField(help_text="Monday (UTC) the week starts on.")
    holdout_prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    holdout_model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    production_prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    production_model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    negative_rate_gap = models.FloatField(
        null=True, help_text="Production minus holdout negative-feedback rate."
    )
    success_rate_gap = models.FloatField(
        null=True, help_text="Production minus holdout execution success rate."
    )
    significant = models.BooleanField(
        help_text="A two-proportion test finds a gap at the report's level."
    )
    comparison = models.JSONField(help_text="The full comparison of the week.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-week_start"]
        permissions = [
            ("establish_holdout", "Can establish a template's holdout baseline")
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "week_start"], name="holdoutreport_one_per_week"
            )
        ]

    def __str__(self) -> str:
        return f"{self.template} holdout drift, week of {self.week_start}"
