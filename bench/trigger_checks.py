"""What the drift, safety and diversity trigger checks cost on one template.

Run from the repository root:
    .venv/bin/python -m bench.trigger_checks [--interactions 20000]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.trigger_checks

Interactions spread evenly over the 35 days the drift check reads (its 28-day
baseline and 7-day current window) go in through the ingestion service; then
each check runs three times and the median is printed with the rows it read.
Each check parses every generated query of its windows, so its cost grows with
the traffic of those windows. A throwaway test database is created and
destroyed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

QUESTIONS = [
    "How many singers are older than {n}",
    "Which stadium holds more than {n} people",
    "List concerts of year {n} with their theme",
    "Average capacity of stadiums above {n}",
]
SQL = [
    "SELECT count(*) FROM singer WHERE age > {n}",
    "SELECT name FROM stadium WHERE capacity > {n}",
    "SELECT concert_name, theme FROM concert WHERE year = '{n}'",
    "SELECT avg(capacity) FROM stadium WHERE highest > {n}",
    "SELECT s.name FROM singer AS s JOIN singer_in_concert AS c "
    "ON s.singer_id = c.singer_id WHERE c.concert_id = {n}",
]


def _events(count: int, prompt: int, model: int) -> list[dict[str, Any]]:
    rng = random.Random(20261202)
    now = datetime.now(UTC) - timedelta(minutes=5)
    events = []
    for index in range(count):
        n = rng.randint(1, 999)
        events.append({
            "kind": "interaction", "event_id": str(uuid.uuid4()),
            "user_id": f"user-{n % 97}", "tenant_id": "acme",
            "task_type": rng.choice(("adhoc", "report")),
            "question": rng.choice(QUESTIONS).format(n=n),
            "generated_sql": rng.choice(SQL).format(n=n),
            "prompt_version": prompt, "model_version": model,
            "outcome": "success", "consent_scope": "improvement",
            "occurred_at": (now - timedelta(days=35 * index / count)).isoformat(),
        })  # fmt: skip
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interactions", type=int, default=20_000)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.contrib.auth.models import User
    from django.db import connection
    from django.utils import timezone

    from bench.ingest import _setup
    from feedback.ingestion import ingest_events
    from governance.diversity import check_output_diversity
    from governance.drift import check_input_drift
    from governance.violations import check_safety_violations
    from registry.models import PromptTemplate

    for name in ("feedback", "audit", "evaluation"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        _, prompt, model = _setup()
        sender = User.objects.get(username="bench-client")
        events = _events(args.interactions, prompt, model)
        for start in range(0, len(events), 1000):
            ingest_events(
                events=events[start : start + 1000], acting_user=sender, channel="api"
            )
        template = PromptTemplate.objects.get(name="bench")
        now = timezone.now()
        print(f"{connection.vendor}, {args.interactions} interactions over 35 days")
        checks = {
            "input drift (35 days)": check_input_drift,
            "safety violations (1 day)": check_safety_violations,
            "output diversity (14 days)": check_output_diversity,
        }
        for label, check in checks.items():
            spent = []
            for _ in range(3):
                started = time.perf_counter()
                finding = check(template, now)
                spent.append(time.perf_counter() - started)
            fired = "fired" if finding else "quiet"
            print(f"  {label}: {statistics.median(spent) * 1000:.0f} ms ({fired})")
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()


if __name__ == "__main__":
    main()
