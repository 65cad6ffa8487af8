"""What the compare page costs on a large snapshot (two runs, N items each).

Run from the repository root:
    .venv/bin/python -m bench.compare_pairs [--items 10000]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.compare_pairs

Golden items and both runs' results are written in bulk (random verdicts, 20%
of the headline verdicts differing between the runs); then the summary, the
first page of all items, the first page of changed items and a text search run
three times each, and the median is printed with the number of queries. A
throwaway test database is created and destroyed.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")


def _fill(items: int) -> tuple[Any, Any]:
    from bench.ingest import production_pair
    from evaluation.models import (
        EvaluationResult,
        EvaluationRun,
        GoldenExample,
        GoldenSetSnapshot,
        SnapshotItem,
    )
    from registry.models import PromptTemplate

    prompt, model = production_pair()
    target = PromptTemplate.objects.get(name="bench").target_database
    rng = random.Random(14)
    examples = GoldenExample.objects.bulk_create(
        GoldenExample(
            target_database=target, question=f"How many singers are older than {i}?",
            sql=f"SELECT count(*) FROM singer WHERE age > {i}",
            domain=rng.choice(("music", "sales", "hr")),
            difficulty=rng.choice(("easy", "medium", "hard")), source="import",
        )
        for i in range(items)
    )  # fmt: skip
    snapshot = GoldenSetSnapshot.objects.create(
        name="bench", content_hash=f"bench-{items}", example_count=items
    )
    SnapshotItem.objects.bulk_create(
        SnapshotItem(snapshot=snapshot, golden_example=e) for e in examples
    )
    runs = [
        EvaluationRun.objects.create(
            prompt_version=prompt, model_version=model, snapshot=snapshot,
            status=EvaluationRun.Status.SUCCEEDED, total=items, done=items,
        )
        for _ in range(2)
    ]  # fmt: skip
    first = [rng.random() < 0.7 for _ in range(items)]
    second = [v if rng.random() < 0.8 else not v for v in first]
    for run, verdicts in zip(runs, (first, second), strict=True):
        EvaluationResult.objects.bulk_create(
            (
                EvaluationResult(
                    run=run, golden_example=e, executed=True, row_count_ok=True,
                    predicted_sql=e.sql if ok else "SELECT name FROM stadium",
                    execution_match=ok, exact_match=ok and rng.random() < 0.5,
                )
                for e, ok in zip(examples, verdicts, strict=True)
            ),
            batch_size=2000,
        )  # fmt: skip
    return runs[0], runs[1]


def _measure(label: str, call: Callable[[], Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    spent = []
    for _ in range(3):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            call()
            spent.append(time.perf_counter() - started)
    median = statistics.median(spent) * 1000
    print(f"  {label}: {median:.0f} ms, {len(queries)} queries")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.db import connection

    from evaluation.runs.pairs import ItemFilters, list_pair_items, pair_summary

    for name in ("feedback", "audit", "evaluation"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        a, b = _fill(args.items)
        print(f"{connection.vendor}, two runs of {args.items} items each")

        def page(filters: ItemFilters) -> Callable[[], Any]:
            def read() -> Any:
                shown, items = list_pair_items(a, b, filters, per_page=25)
                return shown.paginator.count, [i.example.question for i in items]

            return read

        _measure("summary (4 metrics, 6 segments)", lambda: pair_summary(a, b))
        _measure("page 1 of all items", page(ItemFilters()))
        _measure("page 1 of changed items", page(ItemFilters(change="changed")))
        _measure("changed + segment + search", page(
            ItemFilters(change="broken", segment="domain:music", q="older than 9")
        ))  # fmt: skip
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)
        tmp.cleanup()


if __name__ == "__main__":
    main()
