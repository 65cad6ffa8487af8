"""One settings module for every environment, driven by environment variables.

`.env.example` lists every variable. Nothing here branches on an environment name.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_int, env_list, env_share, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("LOOPGATE_DATA_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)


def _required_secret(name: str, insecure_default: str) -> str:
    value = env_str(name, "")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(f"{name} must be set when DEBUG is off")
    return insecure_default


SECRET_KEY = _required_secret("SECRET_KEY", "insecure-dev-only-secret-key")
# Pseudonyms and question hashes use their own key so rotating SECRET_KEY (sessions,
# signed tokens) does not change who maps to which pseudonym.
PSEUDONYM_KEY = _required_secret("PSEUDONYM_KEY", "insecure-dev-only-pseudonym-key")

# Relative SQLite paths of target databases resolve here (shipped demo data).
TARGET_DATABASE_ROOT = Path(env_str("TARGET_DATABASE_ROOT", str(BASE_DIR / "data")))

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # First: creates the Celery app before any app binds a shared task.
    "config.apps.ConfigConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_celery_beat",
    "audit",
    "accounts",
    "targets",
    "registry",
    "evaluation",
    "evaluation.runs",
    "feedback",
    "governance",
    "governance.cycle",
    "demo",
    "portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files from the app server (collected by `make serve`); no CDN.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]
# Answers an oversized API body with a JSON 413 before anything reads it.
MIDDLEWARE.insert(1, "config.api.body_limit_middleware")
# Request bodies (a batch of 1,000 events fits well within the default).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_REQUEST_BODY_BYTES", 5 * 1024 * 1024)

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The admin's branding (admin/base_site.html) overrides Django's own.
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
if not DATABASE_URL:
    # The embedded default: a SQLite file in the local data folder.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{DATA_DIR / 'loopgate.sqlite3'}",
        # A process keeps its connection for a minute: on PostgreSQL a new one
        # forks a backend and warms its caches, a third of the server's CPU per
        # 1,000-event batch. Health checks replace one the server has dropped.
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite keeps its connection for 10 minutes by default: opening one runs the
    # pragmas below, and closing the last one checkpoints and deletes the WAL
    # file for the next request to create again (most of a single POST's time).
    DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 600)
    DATABASES["default"]["OPTIONS"] = {
        # Without recursive_triggers, INSERT OR REPLACE slips past append-only
        # triggers; IMMEDIATE avoids lock upgrades failing under concurrent writers.
        # WAL lets readers go on while one process writes, and NORMAL syncs at
        # checkpoints rather than every commit (durable against a process crash; a
        # power cut may lose the last commits: production runs on PostgreSQL).
        "init_command": (
            "PRAGMA recursive_triggers=ON; PRAGMA foreign_keys=ON; "
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        ),
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        if (url := env_str("CACHE_URL", ""))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    ),
    # API keys that passed authentication, per process (accounts.authentication).
    "api_keys": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "api-keys",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    },
}
# How long a revoked key or a removed role may still work in other processes.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 5)

# Security: variables drive these so that production passes `check --deploy`.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Deny by default: a view that declares no permission stays closed.
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.permissions.DeclaredPermission",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.drf.BoundedPagination",
    # JSON only: form bodies turn numbers into strings and cannot be bounded
    # the same way (config.drf).
    "DEFAULT_PARSER_CLASSES": ["config.drf.StrictJSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_RENDERER_CLASSES": [
        "config.drf.SafeJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.schema.ApiSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_str("API_THROTTLE_RATE", "6000/min"),
        "feedback_token": env_str("FEEDBACK_TOKEN_THROTTLE_RATE", "60/min"),
    },
    # Throttling keys on the client, and only trusts X-Forwarded-For this deep.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Loopgate API",
    "DESCRIPTION": "Feedback capture, prompt/model registry, evaluation and governance "
    "for text-to-SQL assistants.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Operation names and tags start below the version: `feedback_batch_create`,
    # tagged `feedback` (config.schema.ApiSchema).
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Served from the app itself: the docs work without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.schema.add_error_responses",
    ],
    # Choice sets that share a field name with others get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "ReviewItemKindEnum": "feedback.models.ReviewItem.Kind",
        "GoldenExampleKindEnum": "evaluation.models.GoldenExample.Kind",
        "ReviewVerdictEnum": "feedback.quality_models.Verdict",
        "PrivacyRequestKindEnum": "feedback.privacy_models.PrivacyRequest.Kind",
        "PrivacyRequestInputKindEnum": ["revocation", "erasure"],
        "DecisionLogEntryDecisionEnum": "governance.models.DecisionLogEntry.Decision",
        # What a person may log by hand: every decision but a rebaseline.
        "PersonDecisionEnum": "governance.serializers.PERSON_DECISIONS",
    },
}

SIMPLE_HISTORY_REVERT_DISABLED = True

# A golden example older than this is reported as stale.
GOLDEN_STALE_DAYS = env_int("GOLDEN_STALE_DAYS", 180)

# Untrusted SQL (targets.execution): per statement, a deadline, a row cap (more
# rows truncate) and a cap on the bytes fetched (more is "result too large").
SANDBOX_TIMEOUT_MS = env_int("SANDBOX_TIMEOUT_MS", 5000)
SANDBOX_MAX_ROWS = env_int("SANDBOX_MAX_ROWS", 10_000)
SANDBOX_MAX_RESULT_BYTES = env_int("SANDBOX_MAX_RESULT_BYTES", 16 * 1024 * 1024)
# Review quality: the share of uncorrected traffic (thumbs up, no feedback)
# sampled each day into the review queue as audit items, stratified by template,
# task type, tenant and outcome; and the share of review items reviewed blind by
# two senior analysts.
AUDIT_SAMPLE_SHARE = env_share("AUDIT_SAMPLE_SHARE", 0.02)
DOUBLE_REVIEW_SHARE = env_share("DOUBLE_REVIEW_SHARE", 0.1)
# The holdout: the fixed share of sessions every template's frozen baseline
# serves once established (read when a holdout is established or re-based).
HOLDOUT_SHARE = env_share("HOLDOUT_SHARE", 0.02)
# Privacy: free text of events received more than this many days ago is erased
# by a daily task (0 keeps it); erasure and retention tasks go to this Celery
# queue, whose worker must connect as the table owner (README, Privacy).
FEEDBACK_TEXT_RETENTION_DAYS = env_int("FEEDBACK_TEXT_RETENTION_DAYS", 365)
PRIVACY_TASK_QUEUE = env_str("PRIVACY_TASK_QUEUE", "celery")

# Evaluation runs: golden examples per Celery chunk, how often a chunk may be
# redelivered after its worker died before its items are recorded as abandoned, and
# the patience of model backends per item (seconds, attempts on 429/5xx/timeouts).
EVALUATION_CHUNK_SIZE = env_int("EVALUATION_CHUNK_SIZE", 25)
EVALUATION_MAX_DELIVERIES = env_int("EVALUATION_MAX_DELIVERIES", 3)
EVALUATION_BACKEND_TIMEOUT_S = env_int("EVALUATION_BACKEND_TIMEOUT_S", 60)
EVALUATION_BACKEND_MAX_ATTEMPTS = env_int("EVALUATION_BACKEND_MAX_ATTEMPTS", 4)
EVALUATION_BACKEND_BACKOFF_MS = env_int("EVALUATION_BACKEND_BACKOFF_MS", 1000)
# A run's execution accuracy more than this many points below the champion's on any
# segment raises a regression alert, mailed and posted to a signed webhook.
REGRESSION_THRESHOLD_POINTS = float(env_str("REGRESSION_THRESHOLD_POINTS", "2.0"))
REGRESSION_ALERT_EMAILS = env_list("REGRESSION_ALERT_EMAILS", [])
REGRESSION_ALERT_WEBHOOK_URL = env_str("REGRESSION_ALERT_WEBHOOK_URL", "")
REGRESSION_ALERT_WEBHOOK_SECRET = env_str("REGRESSION_ALERT_WEBHOOK_SECRET", "")

# Celery: without a broker every task runs in process, eagerly.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Above the hard time limit, so an unacknowledged task is redelivered only after its
# worker is really gone.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int(
        "CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 300
    )
}
# The beat schedule is in config/celery.py: crontab needs Celery, settings do not.
# Erasure needs the table owner's rights: its tasks go to the privacy queue.
CELERY_TASK_ROUTES = {
    "feedback.run_privacy_request": {"queue": PRIVACY_TASK_QUEUE},
    "feedback.enforce_retention": {"queue": PRIVACY_TASK_QUEUE},
}
# Periodic tasks live in the database so their schedules are editable in the admin;
# governance seeds the retraining-trigger check there.
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Every emitted record is PII-redacted (feedback.logfilter).
    "filters": {"redact_pii": {"()": "feedback.logfilter.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_pii"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"
)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "loopgate@localhost")
