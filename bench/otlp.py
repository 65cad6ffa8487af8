"""OTLP trace ingestion throughput vs the batch API, same interactions, same run.

Run from the repository root:
    .venv/bin/python -m bench.otlp [--spans 20000] [--per-request 512]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.otlp

A throwaway test database is created and destroyed. Each request carries
`--per-request` GenAI spans (512 is the SDK's BatchSpanProcessor export size)
plus one non-GenAI span per GenAI span (an HTTP server span, skipped), encoded
as protobuf before timing; the batch API gets the same interactions as JSON
events. Both go through the test client: the figures compare server work.
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

OTLP = "/api/v1/feedback/otlp/v1/traces"
BATCH = "/api/v1/feedback/batch/"


def _interactions(count: int, rng: random.Random) -> list[dict[str, Any]]:
    from bench.ingest import QUESTIONS, SQL_TEMPLATE

    start = datetime.now(UTC) - timedelta(minutes=5)
    found = []
    for _ in range(count):
        n, year, c = rng.randint(1, 99), rng.randint(2000, 2024), rng.choice("ABFGK")
        found.append({
            "trace": os.urandom(16), "span": os.urandom(8), "n": n,
            "question": rng.choice(QUESTIONS).format(n=n, year=year, c=c),
            "sql": SQL_TEMPLATE.format(n=n), "user": f"user-{n}",
            "start_ns": int(start.timestamp() * 1e9), "latency_ms": 600 + n,
        })  # fmt: skip
    return found


def _otlp_bodies(items: list[dict[str, Any]], per_request: int) -> list[bytes]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: str | int) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    bodies = []
    for i in range(0, len(items), per_request):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend([
            kv("service.name", "sql-assistant"), kv("loopgate.tenant_id", "acme"),
            kv("loopgate.consent_scope", "improvement"),
            kv("loopgate.task_type", "adhoc"),
        ])  # fmt: skip
        spans = resource_spans.scope_spans.add().spans
        for item in items[i : i + per_request]:
            part = {"type": "text", "content": item["question"]}
            messages = [{"role": "user", "parts": [part]}]
            end = item["start_ns"] + item["latency_ms"] * 1_000_000
            spans.add(
                trace_id=item["trace"], span_id=item["span"], name="chat",
                start_time_unix_nano=item["start_ns"], end_time_unix_nano=end,
                attributes=[
                    kv("gen_ai.request.model", "replay"),
                    kv("gen_ai.usage.output_tokens", 20 + item["n"]),
                    kv("gen_ai.input.messages", json.dumps(messages)),
                    kv("loopgate.generated_sql", item["sql"]),
                    kv("loopgate.template", "bench"),
                    kv("loopgate.user_id", item["user"]),
                ],
            )  # fmt: skip
            spans.add(
                trace_id=item["trace"], span_id=os.urandom(8), name="POST /ask",
                start_time_unix_nano=item["start_ns"], end_time_unix_nano=end,
                attributes=[kv("http.route", "/ask")],
            )  # fmt: skip
        bodies.append(request.SerializeToString())
    return bodies


def _batch_bodies(
    items: list[dict[str, Any]], size: int, prompt: int, model: int
) -> list[bytes]:
    events = [
        {
            "kind": "interaction", "event_id": str(uuid.uuid4()),
            "trace_id": item["trace"].hex(), "user_id": item["user"],
            "tenant_id": "acme", "task_type": "adhoc", "question": item["question"],
            "generated_sql": item["sql"], "prompt_version": prompt,
            "model_version": model, "output_tokens": 20 + item["n"],
            "server_latency_ms": item["latency_ms"], "outcome": "not_executed",
            "consent_scope": "improvement",
            "occurred_at": datetime.fromtimestamp(item["start_ns"] / 1e9, UTC)
            .isoformat(),
        }
        for item in items
    ]  # fmt: skip
    return [
        json.dumps({"events": events[i : i + size]}).encode()
        for i in range(0, len(events), size)
    ]


def _rejected(url: str, content: bytes) -> int:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    if url == OTLP:
        answer = ExportTraceServiceResponse.FromString(content)
        return answer.partial_success.rejected_spans
    counts = json.loads(content)
    return int(counts["invalid"] + counts["conflict"])


def _send(client: Any, url: str, bodies: list[bytes], content_type: str) -> float:
    started = time.perf_counter()
    for body in bodies:
        response = client.generic("POST", url, body, content_type=content_type)
        if response.status_code != 200 or _rejected(url, response.content):
            sys.exit(f"{url} failed: {response.status_code} {response.content[:300]!r}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--per-request", type=int, default=512)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.db import connection

    from bench.ingest import _setup
    from feedback.models import Interaction

    logging.getLogger("feedback").setLevel(logging.WARNING)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        client, prompt, model = _setup()
        rng = random.Random(20251201)
        size = args.per_request
        warm = _interactions(size, rng)
        _send(client, OTLP, _otlp_bodies(warm, size), "application/x-protobuf")
        otlp_items = _interactions(args.spans, rng)
        otlp_bodies = _otlp_bodies(otlp_items, size)
        otlp_s = _send(client, OTLP, otlp_bodies, "application/x-protobuf")
        replay_s = _send(client, OTLP, otlp_bodies, "application/x-protobuf")
        batch_bodies = _batch_bodies(
            _interactions(args.spans, rng), size, prompt, model
        )
        batch_s = _send(client, BATCH, batch_bodies, "application/json")
        stored = Interaction.objects.count()
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()
    if stored != size + 2 * args.spans:
        sys.exit(f"expected {size + 2 * args.spans} interactions, found {stored}")
    where = "temporary file" if connection.vendor == "sqlite" else test_name
    print(f"database: {connection.vendor} ({where})")
    print(f"GenAI spans: {args.spans}, {size} per request (+1 skipped span each)")
    for label, seconds in (
        ("OTLP protobuf, first export", otlp_s),
        ("OTLP protobuf, re-export (all replays)", replay_s),
        ("batch API, same interactions as JSON", batch_s),
    ):
        print(f"{label:<40} {args.spans / seconds:>10,.0f} interactions/s")
    print(f"OTLP / batch API: {batch_s / otlp_s:.2f}")


if __name__ == "__main__":
    main()
