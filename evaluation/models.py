from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from audit.appendonly import AppendOnlyModel


class GoldenExample(models.Model):
    """A question with its expected SQL on a target database.

    Question and SQL are not edited in place: a change retires the example and
    adds a new one, so snapshots stay meaningful. Retiring is a recorded action.
    """

    class Source(models.TextChoices):
        IMPORT = "import", "Imported (e.g. Spider)"
        REVIEW = "review", "Approved correction from feedback"
        MANUAL = "manual", "Entered by hand"

    class Kind(models.TextChoices):
        REGULAR = "regular", "Regular: scored against its expected SQL"
        SAFETY = "safety", "Safety: scored by the safety rules"

    class Expect(models.TextChoices):
        NONE = "", "Not a safety question"
        REFUSE = "refuse", "Must be refused"
        ANSWER_SAFELY = "answer_safely", "Answer without writes or restricted data"

    class Difficulty(models.TextChoices):
        EASY = "easy"
        MEDIUM = "medium"
        HARD = "hard"
        EXTRA = "extra"
        UNKNOWN = "unknown"

    target_database = models.ForeignKey(
        "targets.TargetDatabase",
        on_delete=models.PROTECT,
        related_name="golden_examples",
    )
    kind = models.CharField(
        max_length=10, choices=Kind.choices, default=Kind.REGULAR, db_index=True
    )
    # Safety examples only: what a safe reply is (see evaluation.safety). Their
    # `sql` is empty for `refuse`, and optional (a safe answer) otherwise.
    expect = models.CharField(
        max_length=20, choices=Expect.choices, default=Expect.NONE, blank=True
    )
    question = models.TextField()
    sql = models.TextField(blank=True)
    domain = models.CharField(max_length=100, blank=True, db_index=True)
    difficulty = models.CharField(
        max_length=10, choices=Difficulty.choices, default=Difficulty.UNKNOWN
    )
    tags = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    external_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="Stable id from the source (e.g. spider-dev:17); makes imports "
        "idempotent.",
    )
    # Provenance of approved corrections: the events' ids (feedback -> evaluation
    # is the dependency direction, so these are ids, not foreign keys).
    source_interaction_id = models.UUIDField(null=True, blank=True)
    source_feedback_id = models.UUIDField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    # For approved corrections: the error classes of evaluation.error_taxonomy
    # ({"version", "classes", "details", "segment"}) of the correction it fixed.
    error_taxonomy = models.JSONField(default=dict, blank=True)
    # For golds moved between engines: the SQL as written, its dialect and the
    # sqlglot version that transpiled it into `sql` (blank when not transpiled).
    original_sql = models.TextField(blank=True)
    original_dialect = models.CharField(max_length=20, blank=True)
    transpiled_with = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    retire_reason = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["target_database", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_id"],
                condition=~models.Q(external_id=""),
                name="goldenexample_external_id_unique",
            ),
            models.CheckConstraint(
                condition=(models.Q(kind="regular", expect=""))
                | models.Q(kind="safety", expect__in=["refuse", "answer_safely"]),
                name="goldenexample_expect_only_for_safety",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target_database.name}: {self.question[:60]}"


class GoldenSetSnapshot(AppendOnlyModel):
    """An immutable, content-hashed list of golden examples; runs name one."""

    name = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64, unique=True, editable=False)
    examples = models.ManyToManyField(
        GoldenExample, through="SnapshotItem", related_name="snapshots"
    )
    example_count = models.PositiveIntegerField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.content_hash[:10]})"


class SnapshotItem(AppendOnlyModel):
    snapshot = models.ForeignKey(
        GoldenSetSnapshot, on_delete=models.PROTECT, related_name="items"
    )
    golden_example = models.ForeignKey(
        GoldenExample, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "golden_example"], name="snapshotitem_unique"
            )
        ]

    def __str__(self) -> str:
        return f"snapshot {self.snapshot_id} item {self.golden_example_id}"


class EvaluationRun(models.Model):
    """One (prompt version, model version) pair scored on one snapshot."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Mode(models.TextChoices):
        SPIDER = "spider", "Spider test-suite rules"
        BIRD = "bird", "BIRD set equality"
        STRICT = "strict", "Ordered, positional"
        SUITE = "suite", "Spider rules on the database and its neighbours"

    prompt_version = models.ForeignKey(
        "registry.PromptVersion", on_delete=models.PROTECT, related_name="+"
    )
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+"
    )
    snapshot = models.ForeignKey(
        GoldenSetSnapshot, on_delete=models.PROTECT, related_name="runs"
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.SPIDER)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    # {"overall": {metric: value, "n": int, "latency_p95_ms": float},
    #  "segments": {"domain:x" | "difficulty:y": {metric: value, "n": int}}}
    # with metrics exact_match, execution_success, execution_accuracy, row_count_ok
    # as fractions in [0, 1].
    summary = models.JSONField(default=dict, blank=True)
    sqlglot_version = models.CharField(max_length=20, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["done", "errors"])

    class Meta:
        ordering = ["-created_at"]
        permissions = [("cancel_evaluationrun", "Can cancel an evaluation run")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.status})"


class EvaluationResult(models.Model):
    """The score of one golden example in one run; written once per pair."""

    run = models.ForeignKey(
        EvaluationRun, on_delete=models.PROTECT, related_name="results"
    )
    golden_example = models.ForeignKey(
        GoldenExample, on_delete=models.PROTECT, related_name="+"
    )
    predicted_sql = models.TextField(blank=True)
    exact_match = models.BooleanField(default=False)
    executed = models.BooleanField(default=False)
    execution_match = models.BooleanField(default=False)
    row_count_ok = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    # e.g. rate_limited, timeout, QueryFailed, gold_error: lets people filter
    # results by cause. `scored` is False when no prediction could be scored at all
    # (the backend failed after its retries, or the golden query failed): such
    # items are the run's `errors`, and count as misses in every metric, except
    # gold_error items, which are left out of every rate (runs.summaries).
    error_kind = models.CharField(max_length=40, blank=True)
    scored = models.BooleanField(default=True)
    latency_ms = models.FloatField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    # Safety examples only: [{"rule", "reason"}] from evaluation.safety; empty
    # for a safe reply (and for regular examples).
    safety_violations = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "golden_example"], name="evaluationresult_once_per_item"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} item {self.golden_example_id}"


class GoldResultCache(models.Model):
    """A golden query's result on one snapshot, computed once and reused by every run.

    Keyed by snapshot (not only by example) so that every run compared on a snapshot
    scores against the same gold rows even if a live target database changes later;
    and by sqlglot version, because the normalized SQL depends on it. Rows are stored
    as text in a typed JSON encoding (see `evaluation.goldcache`) because jsonb would
    normalize numbers and lose types such as bytes, Decimal and dates.
    """

    snapshot = models.ForeignKey(
        GoldenSetSnapshot, on_delete=models.PROTECT, related_name="+"
    )
    golden_example = models.ForeignKey(
        GoldenExample, on_delete=models.PROTECT, related_name="+"
    )
    mode = models.CharField(max_length=10, choices=EvaluationRun.Mode.choices)
    sqlglot_version = models.CharField(max_length=20)
    columns = models.JSONField(default=list, blank=True)
    rows_json = models.TextField(blank=True)
    row_count = models.PositiveIntegerField(default=0)
    # None: sqlglot could not normalize the golden SQL (no exact match possible).
    normalized_sql = models.TextField(null=True, blank=True)  # noqa: DJ001
    has_order_by = models.BooleanField(default=False)
    truncated = models.BooleanField(default=False)
    error = models.TextField(blank=True, help_text="Why the golden query failed.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["snapshot", "golden_example", "mode", "sqlglot_version"],
                name="goldresultcache_once_per_snapshot_item",
            )
        ]

    def __str__(self) -> str:
        return f"gold {self.golden_example_id} on snapshot {self.snapshot_id}"


class EvaluationChunk(models.Model):
    """A slice of a run's items processed by one Celery task.

    `deliveries` counts how often a worker started the chunk; a chunk whose workers
    keep dying is abandoned after EVALUATION_MAX_DELIVERIES so that a poison item
    cannot loop forever under late acknowledgement.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        ABANDONED = "abandoned"

    run = models.ForeignKey(
        EvaluationRun, on_delete=models.CASCADE, related_name="chunks"
    )
    index = models.PositiveIntegerField()
    example_ids = models.JSONField(default=list)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    deliveries = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "index"], name="evaluationchunk_index_unique"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} chunk {self.index} ({self.status})"


class RegressionAlert(models.Model):
    """A segment where a run's execution accuracy fell below the champion's.

    Stored once per (run, segment) and delivered by email and signed webhook; the
    delivery fields record what was sent so a retried task never sends twice.
    """

    run = models.ForeignKey(
        EvaluationRun, on_delete=models.PROTECT, related_name="regression_alerts"
    )
    champion_run = models.ForeignKey(
        EvaluationRun, on_delete=models.PROTECT, related_name="+"
    )
    segment = models.CharField(
        max_length=200, help_text='"overall", "domain:<x>" or "difficulty:<y>".'
    )
    metric = models.CharField(max_length=40, default="execution_accuracy")
    champion_value = models.FloatField()
    challenger_value = models.FloatField()
    drop_points = models.FloatField()
    threshold_points = models.FloatField()
    champion_n = models.PositiveIntegerField()
    challenger_n = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    webhook_delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_attempts = models.PositiveSmallIntegerField(default=0)
    last_delivery_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "segment"], name="regressionalert_once_per_segment"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.segment}: -{self.drop_points:.1f} pts"
