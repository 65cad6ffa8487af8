"""What erasure costs: one person's erasure and retention chunks, timed.

Run from the repository root:
    .venv/bin/python -m bench.erasure [--events 40000]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.erasure

The same stream as bench.ingest (one interaction : three feedback events, 99
users, so about 1% of the events are one person's) goes in through the batch
API, timed, so the ingestion rate beside the erasure figures shows that the
erasure mechanism adds nothing per event. Then one person's erasure runs (one
transaction with the events' append-only triggers lifted: on PostgreSQL the
interaction and feedback tables take no inserts for that long), and the
retention run erases everything in chunks of 500 events. A throwaway test
database is created and destroyed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--batch", type=int, default=1_000)
    args = parser.parse_args()
    events_n = args.events - args.events % args.batch

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.db import connection
    from django.utils import timezone

    from bench.ingest import _api, _setup, _stream
    from feedback import privacy
    from feedback.consent import subject_pseudonym
    from feedback.models import Interaction, PrivacyRequest

    for name in ("feedback", "audit", "evaluation"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        client, prompt, model = _setup()
        events = _stream(events_n, prompt, model, random.Random(20250101))
        api_s = _api(client, events, args.batch)
        person = subject_pseudonym("user-42")
        theirs = Interaction.objects.filter(user_pseudonym=person).count()
        request = PrivacyRequest.objects.create(
            kind=PrivacyRequest.Kind.ERASURE,
            subject_pseudonym=person,
            effective_at=timezone.now(),
        )
        started = time.perf_counter()
        privacy.run_erasure(request_id=request.pk)
        erase_s = time.perf_counter() - started
        settings.FEEDBACK_TEXT_RETENTION_DAYS = 1
        started = time.perf_counter()
        runs = privacy.enforce_retention(now=timezone.now() + timedelta(days=2))
        retention_s = time.perf_counter() - started
        chunk_ms = [
            (r.completed_at - r.created_at).total_seconds() * 1000
            for r in runs
            if r.completed_at is not None
        ]
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()
    where = "temporary file" if connection.vendor == "sqlite" else test_name
    print(f"database: {connection.vendor} ({where})")
    print(
        f"ingested {events_n} events through the batch API: "
        f"{events_n / api_s:,.0f} events/s (no per-event privacy work)"
    )
    print(
        f"erasure of one person ({theirs} interactions and their feedback): "
        f"{erase_s * 1000:,.0f} ms in one transaction"
    )
    print(
        f"retention over the rest: {len(runs)} chunks of up to "
        f"{privacy.RETENTION_CHUNK} interactions + feedback, {retention_s:.1f} s; "
        f"per chunk median {statistics.median(chunk_ms):,.0f} ms, "
        f"max {max(chunk_ms):,.0f} ms"
    )


if __name__ == "__main__":
    main()
