"""Append-only rows: the ORM refuses changes, database triggers refuse the rest.

The ORM layer raises early with a clear error; the triggers created by migration
``0002_append_only_triggers`` hold for raw SQL (SQLite: UPDATE/DELETE, and INSERT
OR REPLACE through ``recursive_triggers``; PostgreSQL: UPDATE/DELETE and TRUNCATE
of a non-empty table). Privileges remain the real boundary on PostgreSQL: the
runtime role gets SELECT and INSERT only (README).
``governance.appendonly.suspended_guards`` lifts the triggers of every append-only
table inside one transaction; only ``flush`` and tamper-simulation tests use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

from feedback.exceptions import AppendOnlyError


def _refuse(what: str) -> AppendOnlyError:
    return AppendOnlyError(f"Append-only records cannot be changed ({what} refused).")


class AppendOnlyQuerySet(models.QuerySet):
    """Bulk inserts and reads only."""

    def update(self, **kwargs: Any) -> int:
        raise _refuse("update")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise _refuse("delete")

    def bulk_update(
        self, objs: Iterable[Any], fields: Iterable[str], batch_size: int | None = None
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
