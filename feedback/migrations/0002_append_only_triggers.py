"""Database-level refusal of UPDATE, DELETE and TRUNCATE on the event tables.

SQLite: BEFORE UPDATE/DELETE triggers; `recursive_triggers=ON` (set on every
connection in settings) makes INSERT OR REPLACE fire the DELETE trigger too.
PostgreSQL: row triggers for UPDATE/DELETE and a statement trigger for TRUNCATE.
An empty table may be truncated (nothing is lost), which keeps Django's test
flush working; feedback.appendonly.suspended_guards lifts the triggers for an
operator's purge.
"""

from django.db import migrations

TABLES = ("feedback_interaction", "feedback_feedback")

SQLITE_CREATE = """
CREATE TRIGGER IF NOT EXISTS {t}_no_update BEFORE UPDATE ON {t}
BEGIN SELECT RAISE(ABORT, '{t} is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS {t}_no_delete BEFORE DELETE ON {t}
BEGIN SELECT RAISE(ABORT, '{t} is append-only: DELETE refused'); END;
"""
SQLITE_DROP = """
DROP TRIGGER IF EXISTS {t}_no_update;
DROP TRIGGER IF EXISTS {t}_no_delete;
"""

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION feedback_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE is_empty boolean;
BEGIN
  -- Truncating an empty table loses nothing (Django's flush truncates them all).
  IF TG_OP = 'TRUNCATE' THEN
    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %I.%I)',
                   TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO is_empty;
    IF is_empty THEN RETURN NULL; END IF;
  END IF;
  RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'insufficient_privilege';
END $$;
"""
PG_CREATE = """
DROP TRIGGER IF EXISTS {t}_no_change ON {t};
CREATE TRIGGER {t}_no_change BEFORE UPDATE OR DELETE ON {t}
  FOR EACH ROW EXECUTE FUNCTION feedback_refuse_change();
DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};
CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t}
  FOR EACH STATEMENT EXECUTE FUNCTION feedback_refuse_change();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS {t}_no_change ON {t};
DROP TRIGGER IF EXISTS {t}_no_truncate ON {t};
"""


def _run(schema_editor, script):
    for statement in script.split(";\n"):
        if statement.strip():
            schema_editor.execute(statement.strip().rstrip(";") + ";")


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for table in TABLES:
            # Each CREATE TRIGGER holds a ';' inside BEGIN...END: run them whole.
            no_update, no_delete = SQLITE_CREATE.format(t=table).split(
                "END;\n", 1
            )
            schema_editor.execute(no_update.strip() + " END;")
            schema_editor.execute(no_delete.strip())
    elif vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            _run(schema_editor, PG_CREATE.format(t=table))
    else:
        raise RuntimeError(f"No append-only triggers for the {vendor} backend.")


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    script = SQLITE_DROP if vendor == "sqlite" else PG_DROP
    for table in TABLES:
        _run(schema_editor, script.format(t=table))
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS feedback_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_events_and_review_queue")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
