"""Templates point at targets.TargetDatabase (same table as before)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('registry', '0001_initial'),
        ('targets', '0001_move_from_evaluation'),
    ]

    operations = [
        # The tables stay where they are: only Django's model state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='historicalprompttemplate',
                    name='target_database',
                    field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='targets.targetdatabase'),
                ),
                migrations.AlterField(
                    model_name='prompttemplate',
                    name='target_database',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='targets.targetdatabase'),
                ),
            ],
            database_operations=[],
        ),
    ]
