"""Golden-set snapshots and their items are written once: the database refuses to
change them, so a comparison's "same snapshot" stays the same rows."""

from django.db import migrations

from audit.triggers import guards_operation

TABLES = ("evaluation_goldensetsnapshot", "evaluation_snapshotitem")


class Migration(migrations.Migration):
    dependencies = [("evaluation", "0010_golden_kind_expect_safety_violations")]

    operations = [guards_operation(TABLES)]
