"""Prompt and model versions are written once: the database refuses to change them.

The ORM already refused (audit.appendonly.AppendOnlyModel); these triggers also
hold against raw SQL, so the pair production serves cannot be edited in place.
"""

from django.db import migrations

from audit.triggers import install_guards, remove_guards

TABLES = ("registry_promptversion", "registry_modelversion")


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_labels_rollout_holdout")]

    operations = [
        migrations.RunPython(
            lambda apps, editor: install_guards(editor, TABLES),
            lambda apps, editor: remove_guards(editor, TABLES),
        )
    ]
