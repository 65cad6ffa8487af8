"""Append-only rows: the ORM refuses changes, database triggers refuse the rest.

The ORM layer raises early with a clear error; the triggers created by migration
``0002_append_only_triggers`` hold for raw SQL (SQLite: UPDATE/DELETE, and INSERT
OR REPLACE through ``recursive_triggers``; PostgreSQL: UPDATE/DELETE and TRUNCATE
of a non-empty table). Privileges remain the real boundary on PostgreSQL: the
runtime role gets SELECT and INSERT only (README). ``suspended_guards`` lifts the
triggers inside one transaction, which needs the table owner's rights; only
operators' purges and test teardown use it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connections, models, transaction

from feedback.exceptions import AppendOnlyError

APPEND_ONLY_TABLES: tuple[str, ...] = ("feedback_interaction", "feedback_feedback")


@contextmanager
def suspended_guards(*, using: str = "default") -> Iterator[None]:
    """Lift the append-only triggers for the enclosed block, in its transaction.

    The triggers come back when the block ends, even when it fails (the DDL is
    part of the transaction). Application code never calls this.
    """
    connection = connections[using]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # ALTER TABLE refuses to run while deferred FK checks are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            yield
            for table in APPEND_ONLY_TABLES:
                cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            return
        marks = ", ".join(["%s"] * len(APPEND_ONLY_TABLES))
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "  # noqa: S608
            f"AND tbl_name IN ({marks})",
            APPEND_ONLY_TABLES,
        )
        triggers = cursor.fetchall()
        for name, _ in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        yield
        for _, sql in triggers:
            cursor.execute(sql)


def _refuse(what: str) -> AppendOnlyError:
    return AppendOnlyError(f"Append-only records cannot be changed ({what} refused).")


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk inserts and reads only."""

    def update(self, **kwargs: Any) -> int:
        raise _refuse("update")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise _refuse("delete")

    def bulk_update(
        self, objs: Sequence[Any], fields: Sequence[str], batch_size: int | None = None
    ) -> int:
        raise _refuse("bulk_update")

    def update_or_create(self, *args: Any, **kwargs: Any) -> Any:
        raise _refuse("update_or_create")


class AppendOnlyModel(models.Model):
    """A row is inserted once; saving it again or deleting it is refused."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise _refuse("save of an existing row")
        # Client-chosen primary keys: never let Django try an UPDATE first.
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise _refuse("delete")
