"""Gunicorn settings for `make serve` (production): `gunicorn -c config/gunicorn.py`.

Sync workers suit this app: a request's time is database and sandbox waits, and a
worker per process keeps one bad request from stalling the others. The count
follows gunicorn's advice of two per core plus one unless WEB_CONCURRENCY says
otherwise; every value here can be overridden on the command line.
"""

import os

wsgi_app = "config.wsgi:application"
bind = os.environ.get("BIND", "0.0.0.0:8000")
workers = (
    int(os.environ.get("WEB_CONCURRENCY", "0")) or 2 * len(os.sched_getaffinity(0)) + 1
)
# Above the sandbox deadline (SANDBOX_TIMEOUT_MS) so a slow query is answered, not
# killed mid-response.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
# Recycle workers now and then: a long-lived process holding a large result
# returns its memory to the system.
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"
