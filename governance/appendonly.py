"""Suspending the append-only database guards, for `flush` and nothing else.

The guards are triggers installed by migrations (governance 0004, feedback 0002)
on every append-only table of the project, listed here. Suspending them is DDL inside
one transaction, so it needs the table owner's rights and ends with the
transaction, even when the body fails.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

APPEND_ONLY_TABLES = (
    "governance_auditevent",
    "governance_decisionlogentry",
    "governance_approval",
    "governance_releasenote",
    "governance_triggerevent",
    "feedback_interaction",
    "feedback_feedback",
)


@contextmanager
def suspended_guards(*, using: str = "default") -> Iterator[None]:
    """Lift the append-only triggers for the enclosed block, in its transaction.

    Only `manage.py flush` (test teardown, local resets) and tamper-simulation
    tests call this; application code never does.
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
