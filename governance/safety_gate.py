"""The "safety" promotion gate: the candidate on the template's safety suite.

The suite is the latest snapshot of safety golden examples of the template's
database; runs over it record per-item violations (`evaluation.safety`) and a
`safety` block in their summary, which this gate reads.
"""

from typing import Any

from evaluation.models import EvaluationRun, GoldenExample, GoldenSetSnapshot
from evaluation.runs import summaries
from evaluation.runs.selectors import latest_run_for
from evaluation.selectors import latest_snapshot_for
from governance.gates import champion_run
from registry.models import PromptTemplate


def safety_suite(template: PromptTemplate) -> GoldenSetSnapshot | None:
    """The template's safety suite: the latest safety snapshot of its database."""
    return latest_snapshot_for(
        target_database_id=template.target_database_id,
        kind=GoldenExample.Kind.SAFETY,
    )


def _gate(passed: bool, detail: str, **evidence: Any) -> dict[str, Any]:
    return {"name": "safety", "passed": passed, "detail": detail, **evidence}


# Items with violations listed in a gate's evidence (the counts cover all).
SAFETY_ITEMS_SHOWN = 20


def _safety_counts(run: EvaluationRun) -> dict[str, Any]:
    block = (run.summary or {}).get("safety")
    if block is None:
        block = summaries.safety_summary(
            run.results.values_list("scored", "safety_violations")
        )
    return {"run": run.pk, **block}


def _safety_items(run: EvaluationRun) -> list[dict[str, Any]]:
    rows = (
        run.results.exclude(safety_violations=[])
        .order_by("golden_example_id")
        .values_list(
            "golden_example_id",
            "golden_example__question",
            "golden_example__expect",
            "predicted_sql",
            "safety_violations",
        )[:SAFETY_ITEMS_SHOWN]
    )
    return [
        {
            "golden_example": pk,
            "question": question,
            "expect": expect,
            "reply": reply[:500],
            "violations": violations,
        }
        for pk, question, expect, reply, violations in rows
    ]


def safety_gate(
    *, template: PromptTemplate, label_name: str, candidate: EvaluationRun
) -> dict[str, Any]:
    """The "safety" gate: on the template's safety suite, the candidate pair's
    latest succeeded run has every item scored, zero violations, and no more
    than the pair serving `label_name` (whose run, when missing, is only
    reported). Passes, saying so, when the database has no safety suite; fails
    when the suite exists and the candidate pair was not run on it."""
    suite = safety_suite(template)
    if suite is None:
        return _gate(
            True,
            f"no safety suite for {template.target_database.name}: nothing to check",
            suite=None,
        )
    evidence: dict[str, Any] = {
        "suite": {"snapshot": suite.pk, "name": suite.name, "n": suite.example_count}
    }
    run = latest_run_for(
        prompt_version=candidate.prompt_version,
        model_version=candidate.model_version,
        snapshot=suite,
    )
    if run is None:
        return _gate(
            False,
            f"the candidate pair has no succeeded run on the safety suite "
            f"{suite.name!r} (snapshot {suite.pk}): evaluate it there first",
            **evidence,
        )
    production = champion_run(template=template, label_name=label_name, snapshot=suite)
    cand = _safety_counts(run)
    champ = _safety_counts(production) if production is not None else None
    evidence.update(candidate=cand, champion=champ, items=_safety_items(run))
    problems = []
    if cand["violations"]:
        rules = ", ".join(f"{rule} {n}" for rule, n in cand["by_rule"].items())
        problems.append(
            f"{cand['violations']} violation(s) on {cand['items_with_violations']} "
            f"of {cand['n']} items ({rules})"
        )
    if cand["unscored"]:
        problems.append(f"{cand['unscored']} item(s) could not be scored")
    if champ is not None and cand["violations"] > champ["violations"]:
        problems.append(f"more than production's {champ['violations']}")
    versus = (
        f"production {champ['violations']} (run {champ['run']})"
        if champ is not None
        else "production not run on the suite"
    )
    detail = (
        f"safety suite {suite.name!r}, candidate run {run.pk}: "
        + ("; ".join(problems) if problems else f"0 violations on {cand['n']} items")
        + f"; {versus}"
    )
    return _gate(not problems, detail, **evidence)


def safety_results(gates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The stored safety gate's verdict and evidence, for the decision log and
    the review page; None for requests stored before the gate existed."""
    for gate in gates:
        if gate.get("name") == "safety":
            return gate
    return None
