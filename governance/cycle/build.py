"""Build the challenger: refresh the prompt's few-shot examples from approved data,
and optionally export the usable rows for fine-tuning elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings

from evaluation.backends.prompts import build_messages
from evaluation.models import GoldenExample
from evaluation.spider import hardness
from feedback.consent import revoked_feedback_ids, revoked_interaction_ids
from feedback.models import Interaction
from governance import breaker
from governance.cycle.decide import evidence, settle
from governance.cycle.models import DatasetSnapshot, RetrainingCycle
from governance.cycle.progress import CycleOptions, CycleOutcome, StepRecorder
from governance.cycle.rules import (
    APPROVED,
    PRODUCTION,
    ChangelogFacts,
    CycleFacts,
    ShotCandidate,
    changelog,
    decide,
    select_few_shot,
)
from governance.cycle.validate import Validation
from registry.content import content_hash
from registry.models import PromptVersion
from registry.services import create_prompt_version


def _segment(sql: str, dialect: str) -> str:
    try:
        return hardness(sql, dialect=dialect)
    except ValueError:
        return GoldenExample.Difficulty.UNKNOWN


def _pool(
    validation: Validation, dialect: str
) -> list[ShotCandidate]:  # production first, then approvals newest first
    pool = [
        ShotCandidate(
            e["question"].strip(),
            e["sql"].strip(),
            _segment(e["sql"], dialect),
            PRODUCTION,
            i,
        )
        for i, e in enumerate(validation.production_clean)
    ]
    newest = sorted(
        validation.usable, key=lambda r: (r["approved_at"], r["review_item"])
    )[::-1]
    pool += [
        ShotCandidate(
            r["question"].strip(), r["sql"].strip(), r["segment"], APPROVED, i
        )
        for i, r in enumerate(newest)
    ]
    return pool


def _challenger_prompt(
    cycle: RetrainingCycle, validation: Validation, options: CycleOptions
) -> tuple[PromptVersion | None, dict[str, Any]]:
    """The refreshed prompt (existing or new), or None when it equals production."""
    production = cycle.champion_prompt
    assert production is not None and cycle.dataset is not None  # noqa: S101
    dialect = cycle.template.target_database.dialect
    selection = select_few_shot(
        _pool(validation, dialect),
        max_per_segment=options.max_per_segment,
        max_total=options.max_total,
    )
    examples = [c.as_example() for c in selection.examples]
    before = {(e["question"], e["sql"]) for e in production.few_shot_examples}
    after = {(e["question"], e["sql"]) for e in examples}
    numbers: dict[str, Any] = {
        "examples": len(examples),
        "by_segment": selection.per_segment,
        "added": len(after - before),
        "removed": len(before - after),
        "kept": len(after & before),
        "over_bound": selection.over_bound,
        "duplicates": selection.duplicates,
    }
    if examples == production.few_shot_examples:
        return production, numbers
    content = {
        "template_text": production.template_text,
        "few_shot_examples": examples,
        "parameters": production.parameters,
    }
    existing = cycle.template.versions.filter(content_hash=content_hash(content))
    if (found := existing.first()) is not None:
        return found, {**numbers, "reused_version": found.number}
    dataset = cycle.dataset
    counts = cycle.validation.get("contamination", {}).get("approved", {})
    shots = cycle.validation.get("contamination", {}).get("production_examples", {})
    text = changelog(
        ChangelogFacts(
            cycle=cycle.pk,
            dataset=dataset.pk,
            dataset_hash=dataset.content_hash,
            window=f"{dataset.manifest['window']['start'] or 'start'} to "
            f"{dataset.manifest['window']['end']}",
            production_version=production.number,
            selection=selection,
            added=numbers["added"],
            removed=numbers["removed"],
            kept=numbers["kept"],
            contamination=counts,
            invalid=len(cycle.validation.get("schema", {}).get("invalid", [])),
            bounds={
                "max_per_segment": options.max_per_segment,
                "max_total": options.max_total,
            },
            extra=(
                [f"Production examples dropped as contaminated: {shots['excluded']}."]
                if shots.get("excluded")
                else []
            ),
        )
    )
    version = create_prompt_version(
        template=cycle.template,
        author=cycle.requested_by or cycle.template.owner,
        parent=production,
        changelog=text,
        **content,
    )
    return version, numbers


def build(
    cycle: RetrainingCycle,
    validation: Validation,
    options: CycleOptions,
    outcome: CycleOutcome,
    recorder: StepRecorder,
) -> CycleFacts | None:
    """Build (or reuse) the challenger; log an early decision and stop if the
    facts already settle the cycle. Returns the facts for the decision."""
    started = recorder.begin("build")
    facts = CycleFacts(
        breaker_halted=breaker.is_halted(cycle.template),
        has_golden_snapshot=cycle.golden_snapshot is not None,
        blocking_findings=tuple(validation.blocking),
        usable_examples=len(validation.usable),
        min_examples=options.min_examples,
    )
    ruling = decide(facts)
    if ruling is None:
        if cycle.challenger_prompt is not None:
            outcome.reused.append(
                f"challenger prompt v{cycle.challenger_prompt.number}"
            )
            numbers: dict[str, Any] = {"prompt_version": cycle.challenger_prompt.number}
            status = "reused"
        else:
            prompt, numbers = _challenger_prompt(cycle, validation, options)
            cycle.challenger_prompt = prompt
            cycle.save(update_fields=["challenger_prompt"])
            status = "reused" if "reused_version" in numbers else "ok"
        identical = (cycle.challenger_prompt, cycle.challenger_model) == (
            cycle.champion_prompt,
            cycle.champion_model,
        )
        facts = replace(facts, challenger_identical=identical)
        ruling = decide(facts)
        if ruling is None:
            recorder.end(started, status=status, numbers=numbers)
            return facts
    recorder.end(started, status="skipped", detail=ruling.reason)
    settle(cycle, ruling, evidence(cycle, None), options, outcome)
    return None


def export(cycle: RetrainingCycle, validation: Validation) -> dict[str, Any]:
    """The optional fine-tuning export of the cycle's dataset."""
    assert cycle.dataset is not None and cycle.champion_prompt is not None  # noqa: S101
    return export_training_data(
        dataset=cycle.dataset,
        usable=validation.usable,
        production=cycle.champion_prompt,
    )


def export_training_data(
    *,
    dataset: DatasetSnapshot,
    usable: list[dict[str, Any]],
    production: PromptVersion,
    directory: Path | None = None,
) -> dict[str, Any]:
    """Write the usable rows with `training` consent as chat-format JSON Lines.

    One object per line, `{"messages": [system, user, assistant]}`: the
    production prompt rendered without examples, then the approved SQL. Rows of
    people who have withdrawn consent since the dataset was built are left out
    (and counted in the manifest). Files
    (train.jsonl, manifest.json) go to
    `DATA_DIR/training/<template>/dataset-<id>-<hash12>/`; rewriting gives
    identical bytes. Returns the manifest.
    """
    template = dataset.template
    target = template.target_database
    consented = [
        r for r in usable if r["consent_scope"] == Interaction.ConsentScope.TRAINING
    ]
    withdrawn = revoked_interaction_ids(r["interaction"] for r in consented)
    withdrawn |= revoked_feedback_ids(r["feedback"] for r in consented)
    rows = [
        r
        for r in consented
        if r["interaction"] not in withdrawn and r["feedback"] not in withdrawn
    ]
    lines = []
    for row in sorted(rows, key=lambda r: r["review_item"]):
        messages = build_messages(
            template_text=production.template_text,
            parameters=production.parameters,
            schema=target.schema,
            examples=[],
            question=row["question"],
            dialect=target.dialect,
        )
        messages.append({"role": "assistant", "content": row["sql"]})
        lines.append(json.dumps({"messages": messages}, ensure_ascii=False))
    body = ("\n".join(lines) + "\n" if lines else "").encode()
    folder = directory or (
        Path(settings.DATA_DIR)
        / "training"
        / template.name
        / f"dataset-{dataset.pk}-{dataset.content_hash[:12]}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.jsonl").write_bytes(body)
    manifest = {
        "dataset_snapshot": dataset.pk,
        "dataset_hash": dataset.content_hash,
        "template": template.name,
        "format": "openai-chat-jsonl",
        "rows": len(lines),
        "left_out_without_training_consent": len(usable) - len(consented),
        "left_out_consent_withdrawn": len(consented) - len(rows),
        "sha256": hashlib.sha256(body).hexdigest(),
        "path": str(folder / "train.jsonl"),
        "prompt_version": production.pk,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
