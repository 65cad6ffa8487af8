"""What the power-aware gates cost: evaluate_gates on large runs, timed.

Run from the repository root:
    .venv/bin/python -m bench.gates_power [--items 10000] [--domains 200]
On PostgreSQL: DATABASE_URL=postgres://... .venv/bin/python -m bench.gates_power

Two runs score the same snapshot (items spread over `--domains` domains of
skewed sizes and four difficulties); the candidate flips about 8% of the items
either way and breaks more in the smallest domains. The gates read every
per-item verdict of both runs once (two queries) to count each segment's
discordant items; the figures show what that adds when a request is created
or refreshed, and how the segment drops split into block and underpowered. A
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
from collections import Counter
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

DIFFICULTIES = ("easy", "medium", "hard", "extra")


def _golden(items: int, domains: int, rng: random.Random) -> tuple[Any, list[Any]]:
    from evaluation.models import GoldenExample, GoldenSetSnapshot, SnapshotItem
    from targets.models import TargetDatabase

    target = TargetDatabase.objects.get(name="concert_singer")
    # Zipf-like sizes: a few large domains, a long tail of small ones.
    weights = [1 / (rank + 1) for rank in range(domains)]
    examples = GoldenExample.objects.bulk_create(
        GoldenExample(
            target_database=target,
            question=f"bench question {i}",
            sql="SELECT 1",
            source=GoldenExample.Source.MANUAL,
            domain=f"d{rng.choices(range(domains), weights)[0]:02d}",
            difficulty=rng.choice(DIFFICULTIES),
        )
        for i in range(items)
    )
    snap = GoldenSetSnapshot.objects.create(
        name="bench", content_hash="bench".ljust(64, "0"), example_count=items
    )
    SnapshotItem.objects.bulk_create(
        SnapshotItem(snapshot=snap, golden_example=e) for e in examples
    )
    return snap, examples


def _run(
    prompt: Any, model: Any, snap: Any, examples: list[Any], hits: list[bool]
) -> Any:
    from evaluation.models import EvaluationResult, EvaluationRun
    from evaluation.runs.summaries import ItemOutcome, summarize

    outcomes = [
        ItemOutcome(hit, True, hit, hit, 100.0, e.domain, e.difficulty)
        for e, hit in zip(examples, hits, strict=True)
    ]
    run = EvaluationRun.objects.create(
        prompt_version=prompt,
        model_version=model,
        snapshot=snap,
        status=EvaluationRun.Status.SUCCEEDED,
        summary=summarize(outcomes),
    )
    EvaluationResult.objects.bulk_create(
        EvaluationResult(
            run=run, golden_example=e, executed=True, execution_match=hit,
            latency_ms=100.0,
        )
        for e, hit in zip(examples, hits, strict=True)
    )  # fmt: skip
    return run


def _timed(call: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--domains", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import django
    from django.conf import settings

    tmp = tempfile.TemporaryDirectory(prefix="loopgate-bench-")
    django.setup()
    from django.db import connection

    for name in ("feedback", "audit", "evaluation", "governance"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if connection.vendor == "sqlite":
        settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
            f"{tmp.name}/bench.sqlite3"
        )
    test_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        _measure(args.items, args.domains, args.repeat, connection.vendor)
    finally:
        connection.creation.destroy_test_db(test_name, verbosity=0)


def _measure(items: int, domains: int, repeat: int, vendor: str) -> None:
    from bench.ingest import _setup
    from governance import gates
    from governance.models import GovernancePolicy
    from registry.models import ModelVersion, PromptTemplate, PromptVersion
    from registry.services import create_prompt_version

    rng = random.Random(20261201)
    _, prompt_pk, model_pk = _setup()
    prompt, model = (
        PromptVersion.objects.get(pk=prompt_pk),
        ModelVersion.objects.get(pk=model_pk),
    )
    template = PromptTemplate.objects.get(pk=prompt.template_id)
    candidate_prompt = create_prompt_version(
        template=template, template_text=prompt.template_text + "\nv2",
        few_shot_examples=[], parameters={}, changelog="bench v2",
        author=template.owner,
    )  # fmt: skip
    snap, examples = _golden(items, domains, rng)
    sizes = Counter(e.domain for e in examples)
    small = {domain for domain, n in sizes.items() if n < 30}
    before = [rng.random() < 0.6 for _ in examples]
    after = []
    for example, hit in zip(examples, before, strict=True):
        flipped = (not hit) if rng.random() < 0.08 else hit
        # Small domains also lose some hits: drops the gate must judge.
        broken = example.domain in small and hit and rng.random() < 0.2
        after.append(False if broken else flipped)
    champion = _run(prompt, model, snap, examples, before)
    candidate = _run(candidate_prompt, model, snap, examples, after)
    policy = GovernancePolicy(template=template)

    ms_gates, found = _timed(
        lambda: gates.evaluate_gates(
            candidate=candidate,
            champion=champion,
            snapshot=snap,
            policy=policy,
            has_incumbent=True,
        ),
        repeat,
    )
    ms_discordant, _ = _timed(
        lambda: gates.discordant_by_segment(champion, candidate), repeat
    )
    ms_table, _ = _timed(lambda: gates.compare_runs(candidate, champion), repeat)
    segment_gate = next(g for g in found if g["name"] == "segments")
    verdicts = Counter(d["verdict"] for d in segment_gate["drops"])
    print(f"database: {vendor}")
    print(
        f"items: {items}, segments: {len(candidate.summary['segments'])} "
        f"({sum(1 for n in sizes.values() if n < 30)} domains under 30 items)"
    )
    print(f"evaluate_gates: {ms_gates:.1f} ms (median of {repeat})")
    print(f"  of which discordant_by_segment: {ms_discordant:.1f} ms")
    print(f"compare_runs (review page table and alerts source): {ms_table:.1f} ms")
    print(
        f"segment drops beyond 2 points: {len(segment_gate['drops'])} "
        f"(block {verdicts['block']}, underpowered {verdicts['underpowered']})"
    )


if __name__ == "__main__":
    main()
