"""Release notes, written once in the transaction that moves the label."""

from typing import Any

from audit.appendonly import overwrite_written_once
from feedback.erasure import ERASED, ErasureScope, Report
from governance import numbers
from governance.models import DecisionLogEntry, PromotionRequest, ReleaseNote
from registry.content import diff_prompt_content
from registry.models import Label, ModelVersion
from registry.services import prompt_content


def _model_facts(version: ModelVersion) -> dict[str, Any]:
    return {
        "id": version.pk,
        "name": version.name,
        "provider": version.provider,
        "model_identifier": version.model_identifier,
        "generation_parameters": version.generation_parameters,
    }


def _rate(row: dict[str, Any], side: str) -> str:
    """A rate with its Wilson interval when the row carries one (notes written
    before intervals existed are re-rendered by erasure without them)."""
    rate = numbers.percent(row[side])
    shown = numbers.interval(row.get(f"{side}_interval"))
    return f"{rate} ({shown})" if shown else rate


def _approver(entry: dict[str, Any]) -> str:
    acknowledged = entry.get("acknowledged_underpowered")
    extra = (
        f", acknowledged underpowered drops on {', '.join(acknowledged)}"
        if acknowledged
        else ""
    )
    return f"{entry['username']} ({entry['role']}{extra})"


def render_markdown(content: dict[str, Any]) -> str:
    """The release note as Markdown (admin page, API and download use this)."""
    prompt, model = content["prompt"], content["model"]
    lines = [
        f"# Release notes: {content['template']} {content['label']} "
        f"({content['kind']} #{content['request']})",
        "",
        f"- Deployed: {content['deployed_at']}",
        f"- Decision: #{content['decision']['sequence']} "
        f"{content['decision']['decision']}: {content['decision']['rationale']}",
        f"- Deployment log entry: #{content['outcome_sequence']}",
        f"- Risk tier: {content['tier']}",
        "- Approvers: "
        + (
            ", ".join(_approver(a) for a in content["approvers"])
            or "none (automatic: tier 1, all gates passed)"
        ),
        "",
        "## Prompt",
        "",
        f"v{prompt['from']} → v{prompt['to']}"
        if prompt["from"]
        else f"v{prompt['to']}",
        "",
    ]
    diff = prompt["diff"]
    if diff is not None:
        if diff["template_text"]:
            lines += ["```diff", *diff["template_text"], "```", ""]
        for change in ("added", "removed"):
            for example in diff["few_shot_examples"][change]:
                lines.append(
                    f"- Example {change}: {example['question']} `{example['sql']}`"
                )
        for key, change in diff["parameters"].items():
            lines.append(f"- Parameter {key}: {change['old']} → {change['new']}")
        lines.append("")
    lines += ["## Model", ""]
    if model["from"] and model["from"]["id"] == model["to"]["id"]:
        lines.append(f"Unchanged: {model['to']['name']}")
    else:
        before = model["from"]["name"] if model["from"] else "none"
        lines.append(
            f"{before} → {model['to']['name']} "
            f"({model['to']['provider']}, {model['to']['model_identifier']})"
        )
    lines += [
        "",
        "## Evaluation (execution accuracy)",
        "",
        "| segment | production | candidate | delta | n |",
        "|---|---|---|---|---|",
    ]
    for row in content["segments"]:
        lines.append(
            f"| {row['segment']} | {_rate(row, 'champion')} | "
            f"{_rate(row, 'candidate')} | {numbers.points(row['delta'])} "
            f"| {row['n'] if row['n'] is not None else '-'} |"
        )
    if content.get("override_reason"):
        lines += ["", f"Gate override: {content['override_reason']}"]
    return "\n".join(lines) + "\n"


def write_release_note(
    *,
    request: PromotionRequest,
    outcome: DecisionLogEntry,
    previous: Label | None,
    comparison: dict[str, Any],
    approvers: list[dict[str, Any]],
) -> ReleaseNote:
    """Store the release note of a promotion that just took effect.

    Called by `approvals.promote` only, in its transaction; one per request.
    """
    new_prompt = request.prompt_version
    old_prompt = previous.prompt_version if previous else None
    decision = request.decision
    content = {
        "template": request.template.name,
        "label": request.label_name,
        "kind": request.kind,
        "request": request.pk,
        "tier": request.tier,
        "deployed_at": outcome.deployed_at.isoformat() if outcome.deployed_at else None,
        "decision": {
            "sequence": decision.sequence,
            "decision": decision.decision,
            "rationale": decision.rationale,
        },
        "outcome_sequence": outcome.sequence,
        "approvers": approvers,
        "prompt": {
            "from": old_prompt.number if old_prompt else None,
            "to": new_prompt.number,
            "diff": diff_prompt_content(
                prompt_content(old_prompt), prompt_content(new_prompt)
            )
            if old_prompt
            else None,
        },
        "model": {
            "from": _model_facts(previous.model_version) if previous else None,
            "to": _model_facts(request.model_version),
        },
        "segments": comparison["segments"],
        "override_reason": request.override_reason,
    }
    return ReleaseNote.objects.create(
        request=request,
        decision=decision,
        content=content,
        markdown=render_markdown(content),
    )


def erase_release_notes(scope: ErasureScope) -> Report:
    """Erasure hook (`feedback.erasure.register_eraser`): few-shot examples of
    erased questions in release notes become placeholders, and the Markdown is
    rendered again from the erased content. Runs with the table's append-only
    trigger lifted, inside the erasure's transaction."""
    questions = {q.strip() for q in scope.questions}
    changed = []
    notes = ReleaseNote.objects.filter(request__template_id__in=scope.template_ids)
    for note in notes:
        diff = note.content.get("prompt", {}).get("diff") or {}
        hit = False
        for change in ("added", "removed"):
            for example in diff.get("few_shot_examples", {}).get(change, []):
                if str(example.get("question", "")).strip() in questions:
                    example["question"] = example["sql"] = ERASED
                    hit = True
        if hit:
            overwrite_written_once(
                ReleaseNote.objects.filter(pk=note.pk),
                content=note.content,
                markdown=render_markdown(note.content),
            )
            changed.append(note.pk)
    return {
        "governance_releasenote": {
            "columns": ["content", "markdown"],
            "ids": sorted(str(pk) for pk in changed),
        }
    }
