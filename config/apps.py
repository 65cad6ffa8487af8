from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """Loads the Celery app when Django starts, so `shared_task` binds to it.

    Celery's Django guide imports the app in `config/__init__.py`; importing it
    here instead keeps Celery out of processes that read settings without
    starting Django (`manage.py score_predictions`), while every process that
    calls `django.setup()` (runserver, gunicorn, workers, tests) loads it first.
    """

    name = "config"
    verbose_name = "Project configuration"

    def ready(self) -> None:
        """Create the Celery app (it becomes Celery's current app)."""
        import config.celery  # noqa: F401
