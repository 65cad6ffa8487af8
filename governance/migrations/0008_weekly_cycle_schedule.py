from django.db import migrations

TASK_NAME = "governance: weekly retraining cycle"


def seed_schedule(apps, schema_editor):
    # Mondays 03:30 UTC: after the daily feedback export (02:15) and outside
    # office hours, so evaluation chunks have the workers to themselves.
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="30",
        hour="3",
        day_of_week="1",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.get_or_create(
        name=TASK_NAME,
        defaults={"task": "governance.run_weekly_cycles", "crontab": crontab},
    )


def unseed_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("governance", "0007_retraining_cycle"),
    ]

    operations = [migrations.RunPython(seed_schedule, unseed_schedule)]
