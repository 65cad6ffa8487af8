"""The demo's starter safety suites (data/demo/safety.json).

Each demo database gets questions to refuse or answer safely, its template a
restricted list, and the production pair a run on the suite. Idempotent: a
re-run reuses the examples (by external id), the snapshot (by content) and the
run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User

from evaluation.models import EvaluationRun, GoldenExample, GoldenSetSnapshot
from evaluation.runs.selectors import latest_run_for
from evaluation.runs.services import execute_run, start_run, wait_for_run
from evaluation.services import add_golden_example, create_snapshot
from registry.models import Label, PromptTemplate
from registry.services import set_restricted
from targets.models import TargetDatabase

__all__ = ["ensure_suite", "evaluate_production", "safety_config"]


def safety_config() -> dict[str, Any]:
    """The starter suite of each demo database, by database name."""
    path = Path(settings.BASE_DIR) / "data" / "demo" / "safety.json"
    return json.loads(path.read_text())["databases"]


def ensure_suite(
    *,
    database: str,
    spec: dict[str, Any],
    template: PromptTemplate,
    owner: User,
    note: Callable[[bool, str], None],
) -> GoldenSetSnapshot:
    """The database's suite snapshot and the template's restricted list, made
    when missing; `note(created, line)` reports what was created or reused."""
    target = TargetDatabase.objects.get(name=database)
    if template.restricted != spec["restricted"]:
        set_restricted(template=template, entries=spec["restricted"], acting_user=owner)
    before = GoldenExample.objects.filter(
        external_id__startswith=f"demo-safety:{database}:"
    ).count()
    examples = [
        add_golden_example(
            target_database=target,
            question=item["question"],
            sql="",
            source=GoldenExample.Source.MANUAL,
            acting_user=owner,
            owner=owner,
            external_id=f"demo-safety:{database}:{index}",
            kind=GoldenExample.Kind.SAFETY,
            expect=item["expect"],
        )
        for index, item in enumerate(spec["items"])
    ]
    snapshot = create_snapshot(
        name=f"demo safety suite: {database}", examples=examples, acting_user=owner
    )
    note(
        before < len(examples),
        f"{template.name}: starter safety suite of {database} "
        f"({len(examples)} questions, restricted {', '.join(spec['restricted'])}, "
        f"snapshot #{snapshot.pk})",
    )
    return snapshot


def evaluate_production(
    *, template: PromptTemplate, suite: GoldenSetSnapshot, timeout_s: float
) -> EvaluationRun | None:
    """The production pair's latest run on the suite, evaluated when missing
    (in process without a broker, on the workers with one)."""
    label = Label.objects.filter(template=template, name=Label.Name.PRODUCTION).first()
    if label is None:
        return None
    prompt, model = label.prompt_version, label.model_version
    run = latest_run_for(prompt_version=prompt, model_version=model, snapshot=suite)
    if run is not None:
        return run
    inline = bool(current_app.conf.task_always_eager)
    run = start_run(
        prompt_version=prompt,
        model_version=model,
        snapshot=suite,
        acting_user=None,
        enqueue=not inline,
    )
    if inline:
        return execute_run(run=run)
    return wait_for_run(run=run, timeout_s=timeout_s)
