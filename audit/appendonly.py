"""Records written once: the ORM guard, the tables the database guards, and `flush`.

Two kinds of write-once rows share one model base, `AppendOnlyModel`: immutable
versions (prompt and model versions, golden-set and dataset snapshots) and the
append-only event records. Saving a stored row, deleting one, or a queryset
`update`/`delete` raises `AppendOnlyError` early with a clear message.

The tables in `APPEND_ONLY_TABLES` are also guarded by database triggers installed
by migrations (governance 0004, feedback 0002, and `audit.triggers` from registry
0005 and evaluation 0011), which hold against raw SQL: SQLite
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
    "registry_promptversion",
    "registry_modelversion",
    "evaluation_goldensetsnapshot",
    "evaluation_snapshotitem",
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
def suspended_guards(
    *, using: str = "default", tables: tuple[str, ...] = APPEND_ONLY_TABLES
) -> Iterator[None]:
    """Lift the append-only triggers of `tables` for the enclosed block, in its
    transaction.

    Suspending them is DDL inside one transaction, so it needs the table owner's
    rights and ends with the transaction, even when the body fails; on
    PostgreSQL it also locks the tables against inserts until then. Only
    `manage.py flush` (test teardown, local resets), the audited erasure of free
    text (`feedback.erasure`) and tamper-simulation tests call this.
    """
    unknown = set(tables) - set(APPEND_ONLY_TABLES)
    if unknown:
        raise ValueError(f"Not append-only tables: {sorted(unknown)}")
    connection = connections[using]
    # Parameter placeholders only: the table names are bound, never interpolated.
    list_triggers = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "  # noqa: S608
        f"AND tbl_name IN ({', '.join(['%s'] * len(tables))})"
    )
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses while deferred foreign-key checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield
            for table in tables:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        elif connection.vendor == "sqlite":
            cursor.execute(list_triggers, tables)
            triggers = cursor.fetchall()
            for name, _ in triggers:
                cursor.execute(f'DROP TRIGGER "{name}"')
            yield
            for _, sql in triggers:
                cursor.execute(sql)
        else:
            yield


def overwrite_written_once(queryset: models.QuerySet[Any], **values: Any) -> int:
    """Overwrite columns of written-once rows, past the ORM guard; return the count.

    The one sanctioned change of such rows: the audited erasure of free text
    (`feedback.erasure`), which names the rows and columns it erased in the
    audit trail. Trigger-guarded tables also need `suspended_guards` around it.
    """
    return models.QuerySet.update(queryset, **values)
