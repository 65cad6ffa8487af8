"""Project configuration; `config.celery_app` is the Celery app, loaded on first use.

Django loads it when it starts (`config.apps.ConfigConfig.ready`), and `celery -A
config` finds `config.celery.app`; reading settings alone does not import Celery.
"""

from typing import Any

__all__ = ("celery_app",)


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from config.celery import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
