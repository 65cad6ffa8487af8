"""Prompt and model versions and golden-set snapshots hold against raw SQL: the
database refuses to change or delete them, except inside the one transaction
that lifts the guards (SQLite in pass 1, PostgreSQL in pass 2)."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.appendonly import suspended_guards
from registry.models import ModelVersion, PromptVersion
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import add_goldens, snapshot_of

pytestmark = pytest.mark.django_db


def _rows(target_db: TargetDatabase, prompt: PromptVersion) -> dict[str, int]:
    snapshot = snapshot_of(add_goldens(target_db))
    return {
        "registry_promptversion": prompt.pk,
        "registry_modelversion": ModelVersion.objects.get().pk,
        "evaluation_goldensetsnapshot": snapshot.pk,
        "evaluation_snapshotitem": snapshot.items.first().pk,  # type: ignore[union-attr]
    }


def _try(sql: str, pk: int) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [pk])


def test_raw_updates_and_deletes_of_written_once_rows_are_refused(
    target_db: TargetDatabase, prompt_v1: PromptVersion, model_v1: ModelVersion
) -> None:
    rows = _rows(target_db, prompt_v1)
    for table, pk in rows.items():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608
            before = cursor.fetchall()
        for sql in (
            f"UPDATE {table} SET id = id WHERE id = %s",  # noqa: S608
            f"DELETE FROM {table} WHERE id = %s",  # noqa: S608
        ):
            with pytest.raises(DatabaseError, match="written once"):
                _try(sql, pk)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT * FROM {table} WHERE id = %s", [pk])  # noqa: S608
            assert cursor.fetchall() == before, table


def test_lifting_the_guards_is_confined_to_one_transaction(
    target_db: TargetDatabase, prompt_v1: PromptVersion, model_v1: ModelVersion
) -> None:
    with suspended_guards(tables=("registry_promptversion",)):
        _try(
            "UPDATE registry_promptversion SET changelog = 'erased' WHERE id = %s",
            prompt_v1.pk,
        )
    prompt_v1.refresh_from_db()
    assert prompt_v1.changelog == "erased"
    with pytest.raises(DatabaseError, match="written once"):
        _try("DELETE FROM registry_promptversion WHERE id = %s", prompt_v1.pk)


@pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="TRUNCATE is PostgreSQL's"
)
def test_postgres_refuses_truncating_prompt_versions(
    prompt_v1: PromptVersion,
) -> None:
    with (
        pytest.raises(DatabaseError, match="written once"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        # The test's own inserts leave deferred foreign-key checks pending,
        # which TRUNCATE refuses for another reason: run them first.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("TRUNCATE registry_promptversion CASCADE")
    assert PromptVersion.objects.filter(pk=prompt_v1.pk).exists()
