"""Target databases moved here from evaluation; their tables keep their names."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import migrations, models

OLD_APP, NEW_APP = "evaluation", "targets"
MODELS = ('targetdatabase', 'historicaltargetdatabase')


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
                    name='TargetDatabase',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.SlugField(max_length=100, unique=True)),
                        ('engine', models.CharField(choices=[('sqlite', 'SQLite'), ('postgresql', 'PostgreSQL')], max_length=20)),
                        ('location', models.CharField(max_length=500)),
                        ('description', models.TextField(blank=True)),
                        ('schema', models.JSONField(blank=True, default=dict, help_text='Captured schema: {table: [columns]}.')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'evaluation_targetdatabase',
                        'ordering': ['name'],
                    },
                ),
                migrations.CreateModel(
                    name='HistoricalTargetDatabase',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('name', models.SlugField(max_length=100)),
                        ('engine', models.CharField(choices=[('sqlite', 'SQLite'), ('postgresql', 'PostgreSQL')], max_length=20)),
                        ('location', models.CharField(max_length=500)),
                        ('description', models.TextField(blank=True)),
                        ('schema', models.JSONField(blank=True, default=dict, help_text='Captured schema: {table: [columns]}.')),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'historical target database',
                        'verbose_name_plural': 'historical target databases',
                        'db_table': 'evaluation_historicaltargetdatabase',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, move_content_types_back),
    ]
