"""API tokens moved here from governance; their tables keep their names."""

import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import migrations, models

OLD_APP, NEW_APP = "governance", "accounts"
MODELS = ('apitoken', 'historicalapitoken')


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
                    name='ApiToken',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('prefix', models.CharField(editable=False, max_length=12)),
                        ('key_digest', models.CharField(editable=False, max_length=64, unique=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('revoked_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('user', models.ForeignKey(help_text='The client account the token acts as; its groups grant access.', on_delete=django.db.models.deletion.PROTECT, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'governance_apitoken',
                        'ordering': ['-created_at'],
                    },
                ),
                migrations.CreateModel(
                    name='HistoricalApiToken',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('name', models.CharField(max_length=100)),
                        ('prefix', models.CharField(editable=False, max_length=12)),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('revoked_at', models.DateTimeField(blank=True, null=True)),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.CharField(max_length=100, null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('created_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('revoked_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('user', models.ForeignKey(blank=True, db_constraint=False, help_text='The client account the token acts as; its groups grant access.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'verbose_name': 'historical api token',
                        'verbose_name_plural': 'historical api tokens',
                        'db_table': 'governance_historicalapitoken',
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
