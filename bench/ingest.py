"""Ingestion throughput: the batch API (test client, redaction included) vs a
raw bulk insert of the same rows, in the same run (on PostgreSQL also a raw COPY,
which is how the API stores batches there).

Run from the repository root:
    .venv/bin/python -m bench.ingest [--events 40000]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.ingest

A throwaway test database is created and destroyed (SQLite: a temporary file).
The event stream mimics production: per assistant response, one interaction and
three feedback events (copied, time to first action, a thumb with a comment on
every fourth), so 250 responses per 1,000-event batch. Corrections are left out:
they run SQL on the target database after commit, which is not ingestion work.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

SQL_TEMPLATE = "SELECT count(*) FROM singer WHERE age > {n}"
QUESTIONS = (
    "How many singers are older than {n}?",
    "List concerts in {year} with more than {n} attendees",
    "Average age of singers from country {c}",
    "Which stadium hosted the most concerts in {year}?",
    "Show the songs released after {year} by singers named like %{c}%",
)


def _stream(count: int, prompt: int, model: int, rng: random.Random) -> list[dict]:
    now = datetime.now(UTC) - timedelta(minutes=5)
    events: list[dict[str, Any]] = []
    while len(events) < count:
        event_id = str(uuid.uuid4())
        n, year, c = rng.randint(1, 99), rng.randint(2000, 2024), rng.choice("ABFGK")
        question = rng.choice(QUESTIONS).format(n=n, year=year, c=c)
        events.append({
            "kind": "interaction", "event_id": event_id, "trace_id": f"t-{n}",
            "session_id": f"s-{rng.randint(1, 5000)}", "user_id": f"user-{n}",
            "analyst_id": f"analyst-{n % 7}", "tenant_id": "acme",
            "task_type": rng.choice(("adhoc", "report")), "question": question,
            "generated_sql": SQL_TEMPLATE.format(n=n),
            "prompt_version": prompt, "model_version": model,
            "retrieval_ids": [f"doc-{n}"], "knowledge_version": "kb-1",
            "output_tokens": 20 + n, "client_latency_ms": 900 + n,
            "server_latency_ms": 600 + n, "outcome": "success", "country": "DE",
            "consent_scope": "improvement", "occurred_at": now.isoformat(),
        })  # fmt: skip
        base = {"kind": "feedback", "interaction_id": event_id}
        at = (now + timedelta(seconds=5)).isoformat()
        thumb: dict[str, Any] = {"type": rng.choice(("thumbs_up", "thumbs_down"))}
        if rng.random() < 0.25:
            thumb["comment"] = f"Expected {n + 1} rows, not {n}"
        for extra in (
            {"type": "copied"},
            {"type": "time_to_first_action", "value": 1000 + n},
            thumb,
        ):
            events.append(
                {**base, "event_id": str(uuid.uuid4()), "occurred_at": at, **extra}
            )
    return events[:count]


def _setup() -> tuple[Any, int, int]:
    from django.contrib.auth.models import Group, User
    from rest_framework.test import APIClient

    client_user = User.objects.create_user("bench-client")
    client_user.groups.add(Group.objects.get(name="analyst"))
    prompt, model = production_pair()
    client = APIClient()
    client.force_authenticate(client_user)
    return client, prompt.pk, model.pk


def production_pair() -> tuple[Any, Any]:
    """Template `bench` on concert_singer with a production (prompt, model) pair."""
    from django.contrib.auth.models import User

    from registry.services import (
        create_prompt_version,
        create_template,
        move_label,
        register_model_version,
    )
    from targets.services import register_target_database

    lead = User.objects.create_user("bench-lead")
    target = register_target_database(
        name="concert_singer",
        engine="sqlite",
        location="spider/database/concert_singer/concert_singer.sqlite",
        acting_user=None,
    )
    template = create_template(
        name="bench", description="", owner=lead, risk_tier=1,
        target_database=target, acting_user=lead,
    )  # fmt: skip
    prompt = create_prompt_version(
        template=template, template_text="{schema}{examples}{question}",
        few_shot_examples=[], parameters={}, changelog="bench", author=lead,
    )  # fmt: skip
    model = register_model_version(
        name="bench-model", provider="replay", model_identifier="replay",
        generation_parameters={}, endpoint_name="", acting_user=lead,
    )  # fmt: skip
    move_label(
        template=template, name="production", prompt_version=prompt,
        model_version=model, reason="bench", acting_user=lead,
    )  # fmt: skip
    return prompt, model


def _api(client: Any, events: list[dict], size: int) -> dict[str, tuple[float, float]]:
    """Post the events in batches; return events/s and this process's CPU
    microseconds per event by storage path.

    On PostgreSQL three paths alternate batch by batch, which puts them under
    the same load on a shared machine: "copy" (rows built as the COPY sends
    them), "copy, rows built first" and "rows" (executemany). Elsewhere all
    batches take "rows". CPU time leaves out the database server and is
    disturbed less than wall time by other work on the machine.
    """
    from django.db import connection

    from feedback import ingestion_store, rows

    paths = (
        ("copy", "rows", "copy, rows built first")
        if connection.vendor == "postgresql"
        else ("rows",)
    )
    bodies = [
        json.dumps({"events": events[i : i + size]}).encode()
        for i in range(0, len(events), size)
    ]
    spent = dict.fromkeys(paths, 0.0)
    cpu = dict.fromkeys(paths, 0.0)
    sent = dict.fromkeys(paths, 0)
    for n, body in enumerate(bodies):
        path = paths[n % len(paths)]
        rows.COPY_MIN_ROWS = 10**9 if path == "rows" else 2
        ingestion_store.STREAMED = path == "copy"
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.post(
            "/api/v1/feedback/batch/", body, content_type="application/json"
        )
        spent[path] += time.perf_counter() - started
        cpu[path] += time.process_time() - cpu_started
        sent[path] += size
        if response.status_code != 200 or response.json()["created"] != size:
            sys.exit(f"batch failed: {response.status_code} {response.content[:300]!r}")
    rows.COPY_MIN_ROWS, ingestion_store.STREAMED = 2, True
    return {
        path: (sent[path] / spent[path], cpu[path] / sent[path] * 1e6)
        for path in paths
        if sent[path]
    }


def _stored_rows() -> dict[type, list[dict]]:
    """The rows the API stored, as column values by attname."""
    from feedback.models import Feedback, Interaction

    rows: dict[type, list[dict]] = {}
    for model in (Interaction, Feedback):
        names = [f.attname for f in model._meta.concrete_fields]
        rows[model] = list(model.objects.order_by("received_at").values(*names))
    return rows


def _raw(stored: dict[type, list[dict]], size: int, *, how: str) -> float:
    """Insert copies of the stored rows (fresh ids), timed; returns seconds.

    `how`: "orm" is Django's bulk_create of model instances; "executemany" and
    "copy" are the two ways of feedback.rows (the API path uses COPY on
    PostgreSQL, executemany elsewhere).
    """
    from django.db import transaction

    from feedback.models import Feedback, Interaction
    from feedback.rows import copy_rows, execute_rows

    interactions = [dict(row) for row in stored[Interaction]]
    remap = {row["event_id"]: uuid.uuid4() for row in interactions}
    for row in interactions:
        row["event_id"] = remap[row["event_id"]]
    feedback = [
        {
            **row,
            "event_id": uuid.uuid4(),
            "interaction_id": remap[row["interaction_id"]],
        }
        for row in stored[Feedback]
    ]
    started = time.perf_counter()
    for model, data in ((Interaction, interactions), (Feedback, feedback)):
        for i in range(0, len(data), size):
            with transaction.atomic():
                if how == "orm":
                    # Each model is paired with its own rows; mypy cannot see it.
                    rows = [model(**r) for r in data[i : i + size]]
                    model.objects.bulk_create(rows)  # type: ignore[arg-type]
                elif how == "copy":
                    copy_rows(model, data[i : i + size])
                else:
                    execute_rows(model, data[i : i + size])
    return time.perf_counter() - started


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

    # One info line per batch would drown the figures.
    logging.getLogger("feedback").setLevel(logging.WARNING)

    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        client, prompt, model = _setup()
        rng = random.Random(20250101)
        _api(client, _stream(args.batch, prompt, model, rng), args.batch)  # warm-up
        events = _stream(events_n, prompt, model, rng)
        by_path = _api(client, events, args.batch)
        api_rate = next(iter(by_path.values()))[0]
        stored = _stored_rows()
        rows = sum(len(group) for group in stored.values())
        raw_s = _raw(stored, args.batch, how="executemany")
        orm_s = _raw(stored, args.batch, how="orm")
        copy_s = (
            _raw(stored, args.batch, how="copy")
            if connection.vendor == "postgresql"
            else None
        )
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()
    raw_rate, orm_rate = rows / raw_s, rows / orm_s
    where = "temporary file" if connection.vendor == "sqlite" else test_name
    print(f"database: {connection.vendor} ({where})")
    print(f"events: {events_n} in batches of {args.batch} (1 interaction : 3 feedback)")
    for path, (rate, cpu) in by_path.items():
        label = f"batch API by {path}" if len(by_path) > 1 else "batch API"
        print(f"{label + ' (test client)':<48} {rate:>10,.0f} events/s")
        label = "  same, CPU of this process (no server)"
        print(f"{label:<48} {cpu:>10,.1f} us/event")
    figures = [
        ("raw bulk insert of the same rows (executemany)", raw_rate),
        ("ORM bulk_create of the same rows", orm_rate),
    ]
    if copy_s is not None:
        figures.append(("raw COPY of the same rows", rows / copy_s))
    for label, rate in figures:
        print(f"{label:<48} {rate:>10,.0f} events/s")
    print(f"API / raw: {api_rate / raw_rate:.2f} (goal >= 0.25); goal API >= 10,000/s")
    if copy_s is not None:
        print(
            f"API / raw COPY: {api_rate * copy_s / rows:.2f} (one client, one batch "
            "at a time; the 25,000/s goal is for concurrent clients: bench.http_batch)"
        )
    print(f"API / ORM bulk_create: {api_rate / orm_rate:.2f}")


if __name__ == "__main__":
    main()
