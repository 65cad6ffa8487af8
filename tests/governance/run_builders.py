"""Builders of engineered evaluation runs and summaries for governance tests."""

from typing import Any

from django.contrib.auth.models import User

from evaluation.models import (
    EvaluationResult,
    EvaluationRun,
    GoldenExample,
    GoldenSetSnapshot,
    SnapshotItem,
)
from registry.models import ModelVersion, PromptTemplate, PromptVersion
from registry.services import create_prompt_version
from targets.models import TargetDatabase
from tests.helpers import TEMPLATE_TEXT


def summary(
    accuracy: float,
    *,
    success: float = 0.95,
    p95: float = 800.0,
    segments: dict[str, float] | None = None,
) -> dict[str, Any]:
    """An evaluation summary in the contract's shape."""

    def metrics(value: float, n: int) -> dict[str, Any]:
        return {
            "exact_match": value / 2,
            "execution_success": success,
            "execution_accuracy": value,
            "row_count_ok": value,
            "n": n,
        }

    segs = segments if segments is not None else {"domain:music": accuracy}
    return {
        "overall": {**metrics(accuracy, 40), "latency_p95_ms": p95},
        "segments": {name: metrics(value, 20) for name, value in segs.items()},
    }


def make_snapshot(target: TargetDatabase, name: str, size: int) -> GoldenSetSnapshot:
    examples = [
        GoldenExample.objects.create(
            target_database=target,
            question=f"{name} question {i}",
            sql="SELECT 1",
            source=GoldenExample.Source.MANUAL,
            domain="music",
        )
        for i in range(size)
    ]
    snap = GoldenSetSnapshot.objects.create(
        name=name, content_hash=name.ljust(64, "0"), example_count=size
    )
    for example in examples:
        SnapshotItem.objects.create(snapshot=snap, golden_example=example)
    return snap


def make_run(
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    snap: GoldenSetSnapshot,
    run_summary: dict[str, Any],
    *,
    matches: list[bool] | None = None,
) -> EvaluationRun:
    """A succeeded run; `matches` sets per-item execution_match in snapshot order."""
    run = EvaluationRun.objects.create(
        prompt_version=prompt_version,
        model_version=model_version,
        snapshot=snap,
        status=EvaluationRun.Status.SUCCEEDED,
        summary=run_summary,
    )
    if matches is not None:
        items = snap.items.order_by("id").select_related("golden_example")
        for item, matched in zip(items, matches, strict=True):
            EvaluationResult.objects.create(
                run=run,
                golden_example=item.golden_example,
                executed=True,
                execution_match=matched,
                latency_ms=100.0,
            )
    return run


def new_prompt(template: PromptTemplate, author: User, tag: str) -> PromptVersion:
    return create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT + f"\n{tag}",
        few_shot_examples=[],
        parameters={},
        changelog=f"candidate {tag}",
        author=author,
    )


def prompt_author() -> User:
    """A person who writes candidate prompts and decides nothing: four-eyes keeps
    a prompt's author from approving its promotion, so approvers never write."""
    author, _ = User.objects.get_or_create(username="prompt-author")
    return author
