"""Records written once: the ORM guard, the tables the database guards, and `flush`.

Two kinds of write-once rows share one model base, `AppendOnlyModel`: immutable
versions (prompt and model versions, golden-set and dataset snapshots) and the
append-only event records. Saving a stored row, deleting one, or a queryset
`update`/`delete` raises `AppendOnlyError` early with a clear message.

The tables in `APPEND_ONLY_TABLES` are also guarded by database triggers installed
by migrations (governance 0004, feedback 0002), which hold against raw SQL: SQLite
UPDATE/DELETE, and INSERT OR REPLACE through ``recursive_triggers``; PostgreSQL
UPDATE/DELETE and TRUNCATE. Privileges remain the real boundary on PostgreSQL: the
runtime role gets SELECT and INSERT only on these tables (README).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections, models, transaction

from audit.exceptions import AppendOnlyError

# Every table whose rows the database itself refuses to change (triggers).
APPEND_ONLY_TABLES = (
    "governance_auditevent",
    "governance_decisionlogentry",
    "governance_approval",
    "governance_releasenote",
    "governance_triggerevent",
    "feedback_interaction",
    "feedback_feedback",
)


def _refuse(what: str, model: Any = None) -> AppendOnlyError:
    name = f"{model._meta.verbose_name} records" if model is not None else "Records"
    return AppendOnlyError(
        f"{name.capitalize()} are written once and never changed: {what} refused. "
        "Add a new record instead."
    )


class AppendOnlyQuerySet(models.QuerySet):
    """Inserts and reads only."""

    def update(self, **kwargs: Any) -> int:
        raise _refuse("update", self.model)

    def delete(self) -> tuple[int, dict[str, int]]:
        raise _refuse("delete", self.model)

    def bulk_update(
        self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        raise _refuse("bulk_update", self.model)

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise _refuse("update_or_create", self.model)


class AppendOnlyModel(models.Model):
    """A row is inserted once; saving it again or deleting it is refused."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise _refuse(f"saving stored row {self.pk}", self)
        # Client-chosen primary keys: never let Django try an UPDATE first.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise _refuse(f"deleting row {self.pk}", self)


@contextmanager
def suspended_guards(*, using: str = "default") -> Iterator[None]:
    """Lift the append-only triggers for the enclosed block, in its transaction.

    Suspending them is DDL inside one transaction, so it needs the table owner's
    rights and ends with the transaction, even when the body fails. Only
    `manage.py flush` (test teardown, local resets) and tamper-simulation tests
    call this; application code never does.
    """
    connection = connections[using]
    # Parameter placeholders only: the table names are bound, never interpolated.
    list_triggers = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "  # noqa: S608
        f"AND tbl_name IN ({', '.join(['%s'] * len(APPEND_ONLY_TABLES))})"
    )
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while deferred foreign-key checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        elif connection.vendor == "sqlite":
            cursor.execute(list_triggers, APPEND_ONLY_TABLES)
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
            yield
            for _, sql in triggers:
                cursor.execute(sql)
        else:
            yield
