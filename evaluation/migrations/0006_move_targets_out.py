"""Target databases moved to the targets app; tables unchanged."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('evaluation', '0005_run_roles'),
        ('targets', '0001_move_from_evaluation'),
        # Every foreign key points at the new model before the old one leaves.
        ('registry', '0002_point_at_targets'),
        ('feedback', '0004_point_at_targets'),
    ]

    operations = [
        # The tables stay where they are: only Django's model state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='historicalgoldenexample',
                    name='target_database',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='targets.targetdatabase'),
                ),
                migrations.AlterField(
                    model_name='goldenexample',
                    name='target_database',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='golden_examples', to='targets.targetdatabase'),
                ),
                migrations.DeleteModel(
                    name='HistoricalTargetDatabase',
                ),
                migrations.DeleteModel(
                    name='TargetDatabase',
                ),
            ],
            database_operations=[],
        ),
    ]
