"""One list of append-only tables: the guards, the triggers and the README agree."""

import re

from django.db import connection

from audit.appendonly import APPEND_ONLY_TABLES
from tests.helpers import ROOT


def test_the_readme_revokes_changes_on_exactly_the_append_only_tables() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"REVOKE UPDATE, DELETE, TRUNCATE ON(.*?)FROM", readme, re.S)
    assert block is not None
    listed = {name.strip() for name in block.group(1).split(",")}
    assert listed == set(APPEND_ONLY_TABLES)


def test_every_append_only_table_and_no_other_carries_the_triggers(db: None) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'trigger'"
            )
        else:
            cursor.execute(
                "SELECT DISTINCT event_object_table FROM information_schema.triggers "
                "WHERE trigger_schema = current_schema()"
            )
        guarded = {row[0] for row in cursor.fetchall()}
    assert guarded == set(APPEND_ONLY_TABLES)
