"""Database triggers that refuse UPDATE, DELETE and TRUNCATE on append-only records.

Privileges (a runtime role with SELECT and INSERT only) remain the real boundary:
a table owner can drop or disable these triggers. `manage.py flush` suspends them
for its own transaction (governance.appendonly).
"""

from django.db import migrations

TABLES = [
    "governance_auditevent",
    "governance_decisionlogentry",
    "governance_approval",
    "governance_releasenote",
    "governance_triggerevent",
]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION governance_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'restrict_violation';
END;
$$;
"""


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(PG_FUNCTION)
            for table in TABLES:
                cursor.execute(
                    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE "
                    f"ON {table} FOR EACH ROW "
                    "EXECUTE FUNCTION governance_refuse_change()"
                )
                cursor.execute(
                    f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION governance_refuse_change()"
                )
        elif vendor == "sqlite":
            # INSERT OR REPLACE deletes first; with recursive_triggers=ON (settings)
            # that delete fires the DELETE trigger too.
            for table in TABLES:
                for op in ("UPDATE", "DELETE"):
                    cursor.execute(
                        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} "
                        f"ON {table} BEGIN SELECT RAISE(ABORT, "
                        f"'{table} is append-only: {op} refused'); END"
                    )


def uninstall(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            if vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            elif vendor == "sqlite":
                for op in ("update", "delete"):
                    cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        if vendor == "postgresql":
            cursor.execute("DROP FUNCTION IF EXISTS governance_refuse_change()")


class Migration(migrations.Migration):
    dependencies = [("governance", "0003_decisions_promotions_triggers")]

    operations = [migrations.RunPython(install, uninstall)]
