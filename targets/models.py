from django.db import models
from simple_history.models import HistoricalRecords


class TargetDatabase(models.Model):
    """A database that generated SQL runs against.

    `location` is a SQLite or DuckDB file path (relative ones resolve under
    TARGET_DATABASE_ROOT) or, for PostgreSQL and MariaDB, the *name of an
    environment variable* holding the DSN: a secret never lives in this table.
    The tables keep the names they were created with in the evaluation app.
    """

    class Engine(models.TextChoices):
        SQLITE = "sqlite", "SQLite"
        POSTGRESQL = "postgresql", "PostgreSQL"
        MARIADB = "mariadb", "MariaDB / MySQL"
        DUCKDB = "duckdb", "DuckDB"

    name = models.SlugField(max_length=100, unique=True)
    engine = models.CharField(max_length=20, choices=Engine.choices)
    location = models.CharField(max_length=500)
    description = models.TextField(blank=True)
    schema = models.JSONField(
        default=dict, blank=True, help_text="Captured schema: {table: [columns]}."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(table_name="evaluation_historicaltargetdatabase")

    class Meta:
        db_table = "evaluation_targetdatabase"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def dialect(self) -> str:
        """The sqlglot dialect name for this engine."""
        return SQLGLOT_DIALECTS[self.engine]


# The sqlglot dialect each engine's SQL is parsed, checked and transpiled in.
SQLGLOT_DIALECTS: dict[str, str] = {
    TargetDatabase.Engine.SQLITE: "sqlite",
    TargetDatabase.Engine.POSTGRESQL: "postgres",
    TargetDatabase.Engine.MARIADB: "mysql",
    TargetDatabase.Engine.DUCKDB: "duckdb",
}
