"""Batches through the production server on PostgreSQL: events/s over HTTP.

Run from the repository root, with a PostgreSQL DATABASE_URL whose role may
create databases:
    DATABASE_URL=postgres://... .venv/bin/python -m bench.http_batch \
        [--events 100000] [--batch 1000] [--clients 4] [--workers 2]

`bench.ingest` posts batches one after another through Django's test client,
so the database server's work (COPY, foreign-key checks, the commit's WAL flush)
and Python's never overlap. Assistant backends post batches concurrently to the
production server; this bench does that. A throwaway database (`test_<name>`)
is created, migrated and destroyed; a service account's API key authenticates
as in production. The event stream is `bench.ingest`'s (1 interaction : 3
feedback). Every body is encoded before the clock starts, so the clients' own
work is sending bytes. Prints events/s, the server's CPU per event (gunicorn
master and workers, from /proc; PostgreSQL's server processes too when it runs
on this machine) and checks that every event was stored exactly
once; any non-200 answer or missing row fails the bench.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.http_ingest import (
    ROOT,
    _environment,
    _free_port,
    _server_cpu,
    _setup,
    _wait_for,
    proc_stat,
)
from bench.ingest import _stream


def _post_all(port: int, key: str, bodies: list[bytes], clients: int) -> float:
    """Post every body from `clients` threads; returns the wall seconds."""
    queue = list(reversed(bodies))
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not queue or failures:
                    return
                body = queue.pop()
            # Sync workers close the connection after each answer.
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            try:
                conn.request(
                    "POST",
                    "/api/v1/feedback/batch/",
                    body,
                    {
                        "Content-Type": "application/json",
                        "Authorization": f"Bearer {key}",
                    },
                )
                answer = conn.getresponse()
                content = answer.read()
            finally:
                conn.close()
            if answer.status != 200:
                failures.append(f"{answer.status} {content[:300]!r}")
                return
            answered = json.loads(content)
            if answered["created"] != body.count(b'"event_id"'):
                failures.append(f"not every event created: {content[:300]!r}")
                return

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        sys.exit(f"batch refused: {failures[0]}")
    return elapsed


def _postmaster(connection: Any) -> int | None:
    """The local PostgreSQL server's main process, or None when the server runs
    elsewhere (its backends are then not in this machine's /proc)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (backend,) = cursor.fetchone()
    try:
        return proc_stat(backend)[0]
    except (OSError, IndexError, ValueError):
        return None


def _bodies(events: list[dict], size: int) -> list[bytes]:
    return [
        json.dumps({"events": events[i : i + size]}).encode()
        for i in range(0, len(events), size)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL database (its role creates test_<name>)."
        )
    count = args.events - args.events % args.batch

    with tempfile.TemporaryDirectory(prefix="loopgate-http-batch-") as data_dir:
        Path(data_dir, "static").mkdir()
        env = {**_environment(data_dir), "DATABASE_URL": url}
        os.environ.update(env)
        import django

        django.setup()
        from django.db import connection

        test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        parts = urlsplit(url)
        server_env = {
            **env,
            "DATABASE_URL": urlunsplit(parts._replace(path=f"/{test_name}")),
        }
        port = _free_port()
        server = None
        try:
            key, prompt, model = _setup()
            rng = random.Random(20250101)
            warm = _bodies(
                _stream(args.batch * args.workers * 2, prompt, model, rng), args.batch
            )
            bodies = _bodies(_stream(count, prompt, model, rng), args.batch)
            postmaster = _postmaster(connection)
            connection.close()  # the server's workers use the database from here
            server = subprocess.Popen(
                [
                    str(ROOT / ".venv/bin/gunicorn"), "-c", "config/gunicorn.py",
                    "--workers", str(args.workers), "--bind", f"127.0.0.1:{port}",
                    "--log-level", "warning",
                ],
                cwd=ROOT, env=server_env,
            )  # fmt: skip
            _wait_for(port, server)
            _post_all(port, key, warm, args.workers)
            cpu_before = _server_cpu(server.pid)
            pg_before = _server_cpu(postmaster) if postmaster else 0.0
            seconds = _post_all(port, key, bodies, args.clients)
            server_cpu = _server_cpu(server.pid) - cpu_before
            pg_cpu = _server_cpu(postmaster) - pg_before if postmaster else None
            load = os.getloadavg()[0]

            from feedback.models import Feedback, Interaction

            stored = Interaction.objects.count() + Feedback.objects.count()
            expected = count + len(warm) * args.batch
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=30)
            connection.close()
            connection.creation.destroy_test_db(test_name, verbosity=0)
    print(
        f"batches over HTTP (gunicorn, {args.workers} workers, {args.clients} clients, "
        f"PostgreSQL {test_name}; load {load:.1f})"
    )
    print(f"  events           {count:>10,} in batches of {args.batch:,}")
    print(f"  events/s         {count / seconds:>10,.0f}   (goal >= 25,000)")
    print(f"  gunicorn CPU     {server_cpu / count * 1e6:>10,.1f} us/event")
    if pg_cpu is not None:
        print(f"  PostgreSQL CPU   {pg_cpu / count * 1e6:>10,.1f} us/event")
    print(f"  rows stored      {stored:>10,} of {expected:,} sent")
    if stored != expected:
        sys.exit("every event must be stored exactly once")


if __name__ == "__main__":
    main()
