"""Database triggers that refuse UPDATE, DELETE and TRUNCATE of written-once rows.

Installed by migrations (registry 0005, evaluation 0011); the event and
governance tables have had their own since feedback 0002 and governance 0004.
`audit.appendonly.suspended_guards` lifts any of them for one transaction.

SQLite: BEFORE UPDATE and BEFORE DELETE triggers (with ``recursive_triggers``,
set on every connection, INSERT OR REPLACE fires the DELETE one). PostgreSQL: a
row trigger for UPDATE and DELETE and a statement trigger for TRUNCATE; an empty
table may be truncated, since nothing is lost. A table owner can still drop or
disable triggers: privileges stay the real boundary (README).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import migrations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION loopgate_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE is_empty boolean;
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I.%I)',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO is_empty;
    IF is_empty THEN RETURN NULL; END IF;
  END IF;
  RAISE EXCEPTION '% is written once: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$
"""


def install_guards(schema_editor: Any, tables: Iterable[str]) -> None:
    """Create the refusing triggers on `tables` (names from code, never input)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
    for table in tables:
        if vendor == "sqlite":
            for operation in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE "
                    f"{operation} ON {table} BEGIN SELECT RAISE(ABORT, "
                    f"'{table} is written once: {operation} refused'); END"
                )
        elif vendor == "postgresql":
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON "
                f"{table} FOR EACH ROW EXECUTE FUNCTION loopgate_refuse_change()"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION loopgate_refuse_change()"
            )
        else:
            raise RuntimeError(f"No written-once triggers for the {vendor} backend.")


def remove_guards(schema_editor: Any, tables: Iterable[str]) -> None:
    """Drop what `install_guards` created on `tables` (the function stays: other
    apps' tables may use it)."""
    vendor = schema_editor.connection.vendor
    for table in tables:
        if vendor == "sqlite":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif vendor == "postgresql":
            for name in (f"{table}_no_change", f"{table}_no_truncate"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")


def guards_operation(tables: tuple[str, ...]) -> migrations.RunPython:
    """The migration operation that installs (and on reverse removes) the guards."""
    return migrations.RunPython(
        lambda apps, editor: install_guards(editor, tables),
        lambda apps, editor: remove_guards(editor, tables),
    )
