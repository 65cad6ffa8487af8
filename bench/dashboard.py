"""Stakeholder dashboard: time to build its production panels and the whole page
over a volume of stored traffic.

Run from the repository root:
    .venv/bin/python -m bench.dashboard [--interactions 50000] [--days 84]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.dashboard

A throwaway test database is created and destroyed (SQLite: a temporary file).
Interactions are spread evenly over the period, 10% served by a challenger
label (a second pair), one in eight with a thumbs down; rows are bulk-inserted
(ingestion speed is bench.ingest's subject, not this one's).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def _traffic(count: int, days: int) -> Any:
    from django.utils import timezone

    from bench.ingest import production_pair
    from feedback.models import Feedback, Interaction
    from registry.services import create_prompt_version, move_label

    prompt_v1, model = production_pair()
    template, lead = prompt_v1.template, prompt_v1.author
    challenger = create_prompt_version(
        template=template, template_text="{schema}{examples}{question} v2",
        few_shot_examples=[], parameters={}, changelog="bench v2", author=lead,
    )  # fmt: skip
    move_label(
        template=template, name="challenger", prompt_version=challenger,
        model_version=model, traffic_share=Decimal("0.1"),
        reason="bench", acting_user=lead,
    )  # fmt: skip
    now = timezone.now()
    step = timedelta(days=days) / count
    interactions, feedback = [], []
    for i in range(count):
        at = now - step * (count - i)
        prompt = challenger.pk if i % 10 == 0 else prompt_v1.pk
        row = Interaction(
            event_id=uuid.uuid4(), fingerprint=f"{i:064d}", session_id=f"s-{i}",
            user_pseudonym="u", tenant_id=f"tenant-{i % 3}", task_type="adhoc",
            question="q", question_hash="h", template_id=template.pk,
            prompt_version_id=prompt, model_version_id=model.pk,
            server_latency_ms=300 + i % 700,
            outcome="success" if i % 20 else "sql_error",
            consent_scope="improvement", channel="api", occurred_at=at, received_at=at,
        )  # fmt: skip
        interactions.append(row)
        if i % 8 == 0:
            feedback.append(
                Feedback(
                    event_id=uuid.uuid4(),
                    fingerprint=f"{i:064d}",
                    interaction=row,
                    type="thumbs_down",
                    category="explicit",
                    submitter_role="end_user",
                    weight=0.5,
                    channel="api",
                    occurred_at=at,
                    received_at=at,
                )
            )
    Interaction.objects.bulk_create(interactions, batch_size=2000)
    Feedback.objects.bulk_create(feedback, batch_size=2000)
    return template


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def _warm_timed(fn: Any) -> float:
    """Seconds of the second call: the first warms the database's caches."""
    fn()
    return _timed(fn)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=84)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.db import connection

    logging.getLogger("django.request").setLevel(logging.ERROR)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        from django.contrib.auth.models import User
        from django.test import Client

        from portal import production

        template = _traffic(args.interactions, args.days)
        period = production.Period.last(args.days)
        scope = {"template": template, "period": period}
        figures = [
            (name, _warm_timed(lambda fn=fn: fn(**scope)))
            for name, fn in (
                ("interactions per day", production.interactions_per_day),
                ("negative rate + trigger threshold", production.negative_rate_windows),
                ("corrections per week", production.corrections_per_week),
                ("online metrics per served label", production.online_by_label),
            )
        ]
        admin = User.objects.create_superuser("bench-admin")
        client = Client()
        client.force_login(admin)
        url = f"/evaluation/dashboard/?template={template.name}&days={args.days}"
        client.get(url)  # warm-up
        page_s, response = _timed(lambda: client.get(url))
        if response.status_code != 200:
            raise SystemExit(f"dashboard answered {response.status_code}")
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()
    print(f"database: {connection.vendor}; measured under load (shared machine)")
    print(f"interactions: {args.interactions} over {args.days} days")
    for name, seconds in figures:
        print(f"{name:<40} {seconds * 1000:>9,.0f} ms")
    print(f"{'whole dashboard page (test client)':<40} {page_s * 1000:>9,.0f} ms")


if __name__ == "__main__":
    main()
