"""Gunicorn settings for `make serve` (production): `gunicorn -c config/gunicorn.py`.

Sync workers suit this app: a request's time is database and sandbox waits, and a
worker per process keeps one bad request from stalling the others. The count
follows gunicorn's advice of two per core plus one unless WEB_CONCURRENCY says
otherwise; every value here can be overridden on the command line.
"""

import gc
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
# Access log to stdout; ACCESS_LOG="" turns it off (a proxy in front usually keeps one).
# Import the app and every URL module once in the master, before forking: workers
# share that memory and answer their first request without seconds of imports.
preload_app = True


def when_ready(server: object) -> None:
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every urls and views module)
    # Move the loaded app out of the collector's reach before forking: a worker's
    # first full collection would otherwise walk (and so copy) every inherited
    # page, stalling a freshly recycled worker for hundreds of milliseconds.
    gc.collect()
    gc.freeze()


accesslog = os.environ.get("ACCESS_LOG", "-") or None
