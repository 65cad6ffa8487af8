"""API tokens moved to accounts and the audit trail to audit; tables unchanged."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0009_cycle_roles'),
        ('accounts', '0001_move_from_governance'),
        ('audit', '0001_move_from_governance'),
    ]

    operations = [
        # The tables stay where they are: only Django's model state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='auditevent',
                    name='actor',
                ),
                migrations.RemoveField(
                    model_name='historicalapitoken',
                    name='created_by',
                ),
                migrations.RemoveField(
                    model_name='historicalapitoken',
                    name='history_user',
                ),
                migrations.RemoveField(
                    model_name='historicalapitoken',
                    name='revoked_by',
                ),
                migrations.RemoveField(
                    model_name='historicalapitoken',
                    name='user',
                ),
                migrations.DeleteModel(
                    name='ApiToken',
                ),
                migrations.DeleteModel(
                    name='AuditEvent',
                ),
                migrations.DeleteModel(
                    name='HistoricalApiToken',
                ),
            ],
            database_operations=[],
        ),
    ]
