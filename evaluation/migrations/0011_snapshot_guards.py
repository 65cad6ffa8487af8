"""Golden-set snapshots and their items are written once: the database refuses to
change them, so a comparison's "same snapshot" stays the same rows."""

from django.db import migrations

from audit.triggers import install_guards, remove_guards

TABLES = ("evaluation_goldensetsnapshot", "evaluation_snapshotitem")


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0010_golden_kind_expect_safety_violations")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: install_guards(editor, TABLES),
            lambda apps, editor: remove_guards(editor, TABLES),
        )
    ]
