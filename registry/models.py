from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords

from audit.appendonly import AppendOnlyModel


class PromptTemplate(models.Model):
    """A named use case of the assistant (e.g. "sales-questions")."""

    name = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    risk_tier = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(3)],
        help_text="1: automatic promotion when gates pass; 2: ML lead; 3: board.",
    )
    target_database = models.ForeignKey(
        "targets.TargetDatabase", on_delete=models.PROTECT, related_name="+"
    )
    restricted = models.JSONField(
        default=list,
        blank=True,
        help_text='Tables and columns its assistant must never read: "table" or '
        '"table.column" (the safety suite and gate check them).',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        permissions = [("resolve_prompttemplate", "Can resolve the pair to serve")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(risk_tier__gte=1, risk_tier__lte=3),
                name="prompttemplate_risk_tier_1_to_3",
            )
        ]

    def __str__(self) -> str:
        return self.name


class PromptVersion(AppendOnlyModel):
    """One immutable revision of a template's prompt."""

    template = models.ForeignKey(
        PromptTemplate, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField(editable=False)
    template_text = models.TextField(
        help_text="Uses the placeholders {schema}, {examples} and {question}."
    )
    few_shot_examples = models.JSONField(
        default=list, blank=True, help_text='[{"question": ..., "sql": ...}, ...]'
    )
    parameters = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    content_hash = models.CharField(max_length=64, editable=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    changelog = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["template", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "number"], name="promptversion_number_unique"
            ),
            models.UniqueConstraint(
                fields=["template", "content_hash"],
                name="promptversion_content_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.number}"


class ModelVersion(AppendOnlyModel):
    """One immutable model configuration, separate from prompts."""

    class Provider(models.TextChoices):
        OPENAI = "openai", "OpenAI-compatible endpoint"
        OFFLINE_RETRIEVAL = "offline-retrieval", "Offline nearest-example retrieval"
        REPLAY = "replay", "Replay of production SQL"

    name = models.SlugField(max_length=100, unique=True)
    provider = models.CharField(max_length=30, choices=Provider.choices)
    model_identifier = models.CharField(max_length=200)
    generation_parameters = models.JSONField(default=dict, blank=True)
    endpoint_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Names the configured endpoint (environment variables "
        "LOOPGATE_ENDPOINT_<NAME>_URL / _KEY); never a URL or a secret.",
    )
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    """Which (prompt version, model version) pair a template serves under a name.

    Moved only by `registry.services.move_label`, which records every move.
    """

    class Name(models.TextChoices):
        PRODUCTION = "production", "Production"
        CHALLENGER = "challenger", "Challenger"
        SHADOW = "shadow", "Shadow"
        ROLLOUT = "rollout", "Rollout"
        HOLDOUT = "holdout", "Holdout"

    template = models.ForeignKey(
        PromptTemplate, on_delete=models.PROTECT, related_name="labels"
    )
    name = models.CharField(max_length=20, choices=Name.choices)
    prompt_version = models.ForeignKey(
        PromptVersion, on_delete=models.PROTECT, related_name="+"
    )
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="+"
    )
    traffic_share = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Share of sessions routed here (every label but production).",
    )
    moved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    moved_at = models.DateTimeField()
    reason = models.TextField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["template", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "name"], name="label_name_unique_per_template"
            ),
            models.CheckConstraint(
                condition=models.Q(traffic_share__gte=0, traffic_share__lte=1),
                name="label_traffic_share_0_to_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name}:{self.name}"
