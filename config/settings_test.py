"""Test settings: the production module with only speed knobs changed."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")
os.environ.setdefault("PSEUDONYM_KEY", "test-pseudonym-key")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api_keys": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "api-keys",
    },
}
# Tasks run in process in both CI passes; tests that need the broker and real
# workers switch this off through the `celery_workers` fixture.
CELERY_TASK_ALWAYS_EAGER = True
# Review items are drawn for blind double review by a hash of their (random)
# event id; tests that cover double review opt in with the `settings` fixture.
DOUBLE_REVIEW_SHARE = 0.0
# Look static files up per request instead of scanning STATIC_ROOT at start-up,
# which tests never fill.
WHITENOISE_AUTOREFRESH = True
