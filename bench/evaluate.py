"""Evaluation scale-out: a 972-item run on real Celery workers, 1 vs 2 processes.

Run from the repository root, with PostgreSQL and a Redis broker:
    DATABASE_URL=postgres://... CELERY_BROKER_URL=redis://127.0.0.1:6379/3 \\
        .venv/bin/python -m bench.evaluate [--chunk-size 25] [--repeat 1]

A throwaway test database is created and destroyed. The 972 runnable Spider dev
items become the snapshot; production's answers are the C3SQL predictions,
ingested as interactions, and the run uses the `replay` backend (no network): per
item one lookup of production's SQL, its execution in the sandbox and the
comparison with the golden result. A warm-up run fills the golden-result cache
first, so the measured runs do the same work. Each measured run starts workers
(`celery -A config worker --concurrency N`), waits until they answer a ping,
then times the run from its creation to its last result (database timestamps).
Prints items/s per worker count, the ratio, and the time from the request to the
first stored result.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

ROOT = Path(__file__).resolve().parent.parent
SPIDER = ROOT / "data" / "spider"
PREDICTIONS = ROOT / "data" / "conformance" / "c3sql_predicted_sql.txt"


def _worker_env() -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants (Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    fields = stat.rpartition(")")[2].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) for child in children)


@dataclass(frozen=True)
class Worker:
    pid: int
    log: Path

    def cpu(self) -> float:
        """CPU seconds of the worker and its pool processes so far."""
        return _cpu_seconds(self.pid)

    def chunks_by_process(self) -> list[int]:
        """Chunks each pool process finished, from the worker's log."""
        found = re.findall(
            r"/(ForkPoolWorker-\d+)\] Task evaluation\.process_chunk\[[^]]*\] "
            r"succeeded",
            self.log.read_text(),
        )
        return sorted(Counter(found).values(), reverse=True)


@contextmanager
def workers(concurrency: int, logs: Path) -> Iterator[Worker]:
    """One `celery worker` with `concurrency` processes, ready when entered."""
    from config.celery import app

    name = f"bench{concurrency}-{uuid.uuid4().hex[:6]}"
    log = (logs / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            f"--hostname={name}@%h",
        ],
        cwd=ROOT,
        env=_worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    try:
        deadline = time.monotonic() + 120
        while not app.control.ping(destination=[f"{name}@{os.uname()[1]}"], timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (logs / f"{name}.log").read_text()[-2000:]
                sys.exit(f"worker {name} did not start:\n{tail}")
        yield Worker(process.pid, logs / f"{name}.log")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def _setup() -> tuple[Any, Any, Any]:
    """Import the goldens, register the replayed pair, ingest its answers."""
    from django.contrib.auth.models import User

    from evaluation.importing import (
        import_golden_examples,
        read_spider_items,
        spider_table_ids,
    )
    from evaluation.models import SnapshotItem
    from feedback.ingestion import ingest_events
    from registry.services import (
        create_prompt_version,
        create_template,
        register_model_version,
    )
    from targets.models import TargetDatabase

    report = import_golden_examples(
        items=read_spider_items(questions=SPIDER / "dev.json", gold=None),
        db_dir=SPIDER / "database",
        acting_user=None,
        known_databases=spider_table_ids(SPIDER / "tables.json"),
        snapshot_name="bench",
    )
    snapshot = report.snapshot
    assert snapshot is not None  # noqa: S101 (snapshot_name given)
    lead = User.objects.create_user("bench-lead")
    template = create_template(
        name="bench", description="", owner=lead, risk_tier=1,
        target_database=TargetDatabase.objects.get(name="concert_singer"),
        acting_user=lead,
    )  # fmt: skip
    prompt = create_prompt_version(
        template=template, template_text="{schema}{examples}{question}",
        few_shot_examples=[], parameters={}, changelog="bench", author=lead,
    )  # fmt: skip
    production = register_model_version(
        name="c3sql", provider="offline-retrieval", model_identifier="c3sql",
        generation_parameters={}, endpoint_name="", acting_user=lead,
    )  # fmt: skip
    replay = register_model_version(
        name="replay-c3sql", provider="replay", model_identifier="c3sql",
        generation_parameters={}, endpoint_name="", acting_user=lead,
    )  # fmt: skip
    predictions = PREDICTIONS.read_text().splitlines()
    answer = {
        "kind": "interaction", "user_id": "bench", "tenant_id": "bench",
        "task_type": "adhoc", "prompt_version": prompt.pk,
        "model_version": production.pk, "server_latency_ms": 500,
        "outcome": "success", "consent_scope": "improvement",
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
    }  # fmt: skip
    # External ids are spider-dev:<index in dev.json>, the predictions' line.
    events = [
        {
            **answer,
            "event_id": str(uuid.uuid4()),
            "question": question,
            "generated_sql": predictions[int(external.rpartition(":")[2])],
        }
        for question, external in SnapshotItem.objects.filter(
            snapshot=snapshot
        ).values_list("golden_example__question", "golden_example__external_id")
    ]
    for start in range(0, len(events), 500):
        results = ingest_events(
            events=events[start : start + 500], acting_user=lead, channel="import"
        )
        refused = [r for r in results if r.status != "created"]
        if refused:
            sys.exit(f"ingest failed: {refused[:3]}")
    return prompt, replay, snapshot


def _run(
    prompt: Any, model: Any, snapshot: Any, chunk_size: int, worker: Worker
) -> dict[str, Any]:
    """Start a run, wait for it; its figures from the database's timestamps."""
    from django.db.models import Min

    from evaluation.runs.services import start_run, wait_for_run

    load = os.getloadavg()[0]
    cpu_before = worker.cpu()
    run = start_run(
        prompt_version=prompt,
        model_version=model,
        snapshot=snapshot,
        acting_user=None,
        chunk_size=chunk_size,
    )
    run = wait_for_run(run=run, timeout_s=1800, poll_s=0.2)
    cpu_used = worker.cpu() - cpu_before
    first = run.results.aggregate(first=Min("created_at"))["first"]
    scored = run.results.filter(scored=True).count()
    assert run.finished_at is not None  # noqa: S101 (no longer active)
    elapsed = (run.finished_at - run.created_at).total_seconds()
    return {
        "status": run.status,
        "items": run.total,
        "scored": scored,
        "seconds": elapsed,
        "rate": run.total / elapsed,
        "first_s": (first - run.created_at).total_seconds(),
        "ex": run.summary["overall"]["execution_accuracy"],
        "cpu": cpu_used,
        "load": load,
        "chunks": worker.chunks_by_process(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="Runs per count.")
    parser.add_argument(
        "--keep-logs", action="store_true", help="Keep the workers' logs."
    )
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from config.celery import app

    if connection.vendor != "postgresql" or not settings.CELERY_BROKER_URL:
        sys.exit("needs DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis)")
    chunk_size = args.chunk_size or settings.EVALUATION_CHUNK_SIZE
    logging.getLogger("feedback").setLevel(logging.WARNING)
    logging.getLogger("evaluation").setLevel(logging.WARNING)
    app.conf.task_always_eager = False
    logs = Path(tempfile.mkdtemp(prefix="loopgate-bench-"))
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    figures: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    try:
        app.control.purge()
        started = time.perf_counter()
        prompt, model, snapshot = _setup()
        print(f"setup (import, ingest): {time.perf_counter() - started:.1f} s")
        with workers(2, logs) as worker:
            warm = _run(prompt, model, snapshot, chunk_size, worker)
        print(f"warm-up run (golden results computed): {warm['rate']:.0f} items/s")
        for _ in range(args.repeat):
            for count in (1, 2):
                with workers(count, logs) as worker:
                    result = _run(prompt, model, snapshot, chunk_size, worker)
                figures[count].append(result)
    finally:
        app.control.purge()
        connection.creation.destroy_test_db(test_name, verbosity=0)
        if args.keep_logs:
            print(f"worker logs: {logs}")
        else:
            shutil.rmtree(logs)
    print(f"database: postgresql ({test_name}); broker: {settings.CELERY_BROKER_URL}")
    print(
        f"run: {warm['items']} items, replay backend, chunks of {chunk_size}, "
        f"{warm['scored']} scored, EX {warm['ex']:.3f}; cores: {os.cpu_count()}"
    )
    for count, runs in figures.items():
        for n, result in enumerate(runs, 1):
            print(
                f"{count} worker process{'es' if count > 1 else '  '} (run {n}): "
                f"{result['rate']:>6.0f} items/s, {result['seconds']:5.1f} s; "
                f"first result after {result['first_s']:.2f} s; workers used "
                f"{result['cpu'] / result['seconds']:.2f} cores "
                f"({result['items'] / result['cpu']:.0f} items per CPU-second), "
                f"load average {result['load']:.1f}; chunks per process "
                f"{result['chunks']}"
            )
    best = {count: max(r["rate"] for r in runs) for count, runs in figures.items()}
    print(f"ratio 2 / 1 processes (best runs): {best[2] / best[1]:.2f} (goal >= 1.7)")
    cores = {
        count: sum(r["cpu"] for r in runs) / sum(r["seconds"] for r in runs)
        for count, runs in figures.items()
    }
    print(f"CPU the workers got, 2 / 1 processes: {cores[2] / cores[1]:.2f}")


if __name__ == "__main__":
    main()
