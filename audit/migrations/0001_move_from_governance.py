"""The audit trail moved here from governance; its table keeps its name."""

import django.db.models.deletion
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import migrations, models

OLD_APP, NEW_APP = "governance", "audit"
MODELS = ('auditevent',)


def _relabel(apps, source, destination):
    # Permissions hang off content types: relabelling the type keeps every
    # permission row and every group's grant, under the new app label.
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        moving = content_type.objects.filter(app_label=source, model=model).first()
        if moving is None:
            continue
        content_type.objects.filter(app_label=destination, model=model).delete()
        moving.app_label = destination
        moving.save(update_fields=["app_label"])
    ContentType.objects.clear_cache()


def move_content_types(apps, schema_editor):
    _relabel(apps, OLD_APP, NEW_APP)


def move_content_types_back(apps, schema_editor):
    _relabel(apps, NEW_APP, OLD_APP)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("contenttypes", "0002_remove_content_type_name"),
        # After every migration that existed before the move, so that earlier
        # role migrations never see the model under both app labels.
        ("governance", "0009_cycle_roles"),
        ("evaluation", "0005_run_roles"),
        ("feedback", "0003_review_roles"),
        ("registry", "0001_initial"),
    ]

    operations = [
        # The tables stay where they are: only Django's model state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='AuditEvent',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('event_type', models.CharField(db_index=True, max_length=80)),
                        ('subject_type', models.CharField(max_length=80)),
                        ('subject_id', models.CharField(max_length=64)),
                        ('reason', models.TextField(blank=True)),
                        ('data', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('actor', models.ForeignKey(blank=True, help_text='Empty when the system acted on its own.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'governance_auditevent',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['subject_type', 'subject_id'], name='governance__subject_df6a69_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
