"""What the admin review workspace costs as the queue grows: list and item page.

Run from the repository root:
    .venv/bin/python -m bench.workspace [--items 2000]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.workspace

Corrections go in through the batch API (each is checked on the target, so the
queue holds executed items with disagreements), 20 questions shared among them.
Then a senior analyst's admin list (pending first, by impact) and the top item's
page (its SQL and the correction run in the sandbox, other corrections, the
next/previous pending items) are rendered, timed (median of 5) with their query
counts. A throwaway test database is created and destroyed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def _corrections(count: int, prompt: int, model: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC) - timedelta(minutes=5)
    events: list[dict[str, Any]] = []
    for n in range(count):
        event_id = str(uuid.uuid4())
        events.append({
            "kind": "interaction", "event_id": event_id, "user_id": f"user-{n % 97}",
            "tenant_id": f"tenant-{n % 3}", "task_type": ("adhoc", "report")[n % 2],
            "question": f"How many singers are older than {n % 20}?",
            "generated_sql": "SELECT count(*) FROM singer",
            "prompt_version": prompt, "model_version": model, "outcome": "success",
            "consent_scope": "improvement", "occurred_at": now.isoformat(),
        })  # fmt: skip
        events.append({
            "kind": "feedback", "event_id": str(uuid.uuid4()),
            "interaction_id": event_id, "type": "correction",
            "corrected_sql": f"SELECT count(*) FROM singer WHERE age > {n % 50}",
            "submitter_role": "analyst", "occurred_at": now.isoformat(),
        })  # fmt: skip
    return events


def _timed(client: Any, url: str) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code  # noqa: S101
    return statistics.median(times), len(queries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.db import connection
    from django.test import Client

    from bench.ingest import _setup
    from feedback.models import ReviewItem
    from feedback.workspace import list_workspace_queue

    for name in ("feedback", "audit", "evaluation", "celery"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        api, prompt, model = _setup()
        events = _corrections(args.items, prompt, model)
        started = time.perf_counter()
        for i in range(0, len(events), 1_000):
            body = json.dumps({"events": events[i : i + 1_000]})
            response = api.post(
                "/api/v1/feedback/batch/",
                body,
                content_type="application/json",
            )
            assert response.status_code == 200, response.content[:300]  # noqa: S101
        ingest_s = time.perf_counter() - started
        senior = User.objects.create_user("bench-senior", is_staff=True)
        senior.groups.add(Group.objects.get(name="senior_analyst"))
        client = Client()
        client.force_login(senior)
        items = ReviewItem.objects.count()
        flagged = ReviewItem.objects.filter(disagreement=True).count()
        client.get("/admin/feedback/reviewitem/")  # warm caches
        list_ms, list_q = _timed(client, "/admin/feedback/reviewitem/")
        top = list_workspace_queue().first()
        assert top is not None  # noqa: S101
        page_ms, page_q = _timed(client, f"/admin/feedback/reviewitem/{top.pk}/change/")
        print(f"engine {connection.vendor}: {items} review items, {flagged} flagged")
        print(f"  ingest + check through the API: {ingest_s:.1f} s")
        print(f"  admin list (100 per page):      {list_ms:.0f} ms, {list_q} queries")
        print(f"  item page (2 SQL runs):         {page_ms:.0f} ms, {page_q} queries")
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()


if __name__ == "__main__":
    main()
