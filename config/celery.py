import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("loopgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Here rather than in settings (CELERY_BEAT_SCHEDULE), so that reading settings does
# not import Celery; keys set on app.conf are kept when the settings load.
app.conf.beat_schedule = {
    # 02:15 UTC daily: yesterday's wide feedback export (CSV, JSON Lines, manifest).
    "feedback-export-daily": {
        "task": "feedback.export_daily",
        "schedule": crontab(hour=2, minute=15),
    },
    # 01:30 UTC daily: yesterday's stratified audit sample into the review queue.
    "feedback-audit-sample-daily": {
        "task": "feedback.sample_audit_items",
        "schedule": crontab(hour=1, minute=30),
    },
    # 03:00 UTC daily: erase event free text older than the retention period.
    "feedback-retention-daily": {
        "task": "feedback.enforce_retention",
        "schedule": crontab(hour=3, minute=0),
    },
}
app.autodiscover_tasks()
