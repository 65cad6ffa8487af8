"""Prompt and model versions are written once: the database refuses to change them.

The ORM already refused (audit.appendonly.AppendOnlyModel); these triggers also
hold against raw SQL, so the pair production serves cannot be edited in place.
"""

from django.db import migrations

from audit.triggers import guards_operation

TABLES = ("registry_promptversion", "registry_modelversion")


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_labels_rollout_holdout")]

    operations = [guards_operation(TABLES)]
