"""Model cards as Markdown (API download, admin); HTML uses the same sections."""

from __future__ import annotations

from typing import Any

__all__ = ["render_markdown"]


def _pct(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, int | float) else "-"


def _interval(value: Any) -> str:
    return f"[{value[0]:.1%}, {value[1]:.1%}]" if value else "-"


def _pair_lines(card: dict[str, Any]) -> list[str]:
    prompt, model = card["pair"]["prompt"], card["pair"]["model"]
    parent = prompt["parent"]
    return [
        "## Pair",
        "",
        f"- Prompt version v{prompt['number']} (id {prompt['id']}, "
        f"`{prompt['content_hash'][:12]}`), {prompt['few_shot_examples']} few-shot "
        f"examples, by {prompt['author']}; parent: "
        + (f"v{parent['number']} (`{parent['hash'][:12]}`)" if parent else "none"),
        f"- Model: {model['name']} ({model['provider']}, {model['model_identifier']}"
        f", `{model['content_hash'][:12]}`)",
        "",
    ]


def _lineage_lines(card: dict[str, Any]) -> list[str]:
    lineage = card["lineage"]
    lines = ["## Lineage", ""]
    dataset = lineage.get("dataset")
    if dataset is None:
        return [*lines, f"- {lineage.get('source', 'unknown')}", ""]
    window = dataset.get("window") or {}
    lines += [
        f"- Retraining cycle #{lineage.get('cycle')}",
        f"- Dataset snapshot #{dataset['id']}, hash `{dataset['hash']}`, window "
        f"{window.get('start') or 'start'} → {window.get('end')}, "
        f"{dataset.get('rows')} rows, code {dataset.get('code_version')}",
        f"- Corrections used: {len(lineage.get('corrections_used', []))} review "
        f"items ({', '.join(map(str, lineage.get('corrections_used', [])[:20]))}"
        f"{'…' if len(lineage.get('corrections_used', [])) > 20 else ''})",
    ]
    contamination = lineage.get("contamination") or {}
    if contamination:
        lines.append(
            "- Contamination: "
            + ", ".join(f"{k} {v}" for k, v in sorted(contamination.items()))
        )
    if lineage.get("fine_tuning"):
        advice = lineage["fine_tuning"]
        lines.append(
            f"- Fine-tuning export or prompt refresh: {advice['recommendation']}. "
            f"{advice['statement']}"
        )
    return [*lines, ""]


def _evaluation_lines(card: dict[str, Any]) -> list[str]:
    evaluation = card["evaluation"]
    if evaluation is None:
        return ["## Evaluation", "", "Not evaluated (rollback).", ""]
    overall = evaluation["overall"]
    lines = [
        "## Evaluation (execution accuracy)",
        "",
        f"Run #{evaluation['candidate_run']} on golden snapshot "
        f"#{evaluation['golden_snapshot']} ({evaluation['mode']} rules); production "
        f"run #{evaluation['champion_run'] or '-'}. Intervals: "
        f"{evaluation['interval']}.",
        "",
        "| segment | n | candidate | 95% interval | production |",
        "|---|---|---|---|---|",
        f"| overall | {overall['n']} | {_pct(overall['accuracy'])} | "
        f"{_interval(overall['interval'])} | {_pct(overall['production'])} |",
    ]
    for name, row in evaluation["segments"].items():
        lines.append(
            f"| {name} | {row['n']} | {_pct(row['accuracy'])} | "
            f"{_interval(row['interval'])} | {_pct(row['production'])} |"
        )
    return [*lines, ""]


def _profile_lines(card: dict[str, Any]) -> list[str]:
    profile = card["error_profile"]
    used = profile["corrections_used"]
    remaining = profile["remaining_errors"] or {}
    lines = [
        f"## Error-class profile ({profile['classifier_version']})",
        "",
        "- Corrections used: "
        + (", ".join(f"{k} {v}" for k, v in used.items()) or "none"),
    ]
    if remaining:
        lines.append(
            f"- Remaining errors on the golden snapshot ({remaining['classified']} "
            f"of {remaining['failed_items']} failed items classified): "
            + (", ".join(f"{k} {v}" for k, v in remaining["by_class"].items()) or "-")
        )
    return [*lines, ""]


def _review_lines(card: dict[str, Any]) -> list[str]:
    lines = ["## Known limitations", ""]
    lines += [
        f"- {item['kind']}: {item.get('segment', '')} {item['detail']}".replace(
            "  ", " "
        )
        for item in card["known_limitations"]
    ] or ["- None found by the policy's thresholds."]
    online = card["online_comparison"]
    lines += ["", "## Online shadow comparison", ""]
    if online and "delta" in online:
        lines.append(
            f"- Since {online.get('since')}: challenger "
            f"{online['challenger']['interactions']} interactions, production "
            f"{online['champion']['interactions']}; deltas "
            + ", ".join(f"{k} {v}" for k, v in online["delta"].items())
        )
    else:
        lines.append("- Not shadowed.")
    lines += ["", "## Gates", ""]
    lines += [
        f"- {g['name']}: {'pass' if g['passed'] else 'FAIL'} ({g['detail']})"
        for g in card["gates"]
    ]
    if card["override_reason"]:
        lines.append(f"- Override: {card['override_reason']}")
    assessment = card["risk_assessment"]
    lines += ["", f"## Risk assessment ({card['risk_assessment_rule']})", ""]
    if assessment is None:
        lines.append("- None written.")
    else:
        labels = {f["name"]: f["label"] for f in assessment["fields"]}
        lines.append(
            f"By {assessment['author']} ({assessment['role']}), "
            f"{assessment['written_at']}:"
        )
        lines += [
            f"- **{labels.get(k, k)}**: {v}" for k, v in assessment["answers"].items()
        ]
    lines += ["", "## Approvals", ""]
    lines += [f"- {a['username']} ({a['role']})" for a in card["approvals"]] or [
        "- None yet."
    ]
    return [*lines, ""]


def render_markdown(card: dict[str, Any], *, version: int, final: bool) -> str:
    """The card as Markdown; `version` and `final` come from the stored row."""
    use = card["intended_use"]
    header = [
        f"# Model card: {use['template']} {card['label']} "
        f"({card['kind']} #{card['request']}, card v{version}"
        f"{', final' if final else ''})",
        "",
        f"- Status: {card['status']}; requested by {card['requested_by']}",
        f"- Intended use: {use['description'] or use['template']} (owner "
        f"{use['owner']}, risk tier {use['risk_tier']}) on "
        f"{use['target_database']['name']} ({use['target_database']['engine']})",
        f"- Decision #{card['decision']['sequence']} "
        f"{card['decision']['decision']}: {card['decision']['rationale']}",
        f"- Rationale: {card['rationale']}",
        "",
    ]
    return "\n".join(
        header
        + _pair_lines(card)
        + _lineage_lines(card)
        + _evaluation_lines(card)
        + _profile_lines(card)
        + _review_lines(card)
    )
