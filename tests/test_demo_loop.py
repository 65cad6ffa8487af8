"""Acceptance: `manage.py demo` closes the loop on real Spider data.

On SQLite with tasks in process, and (marked `broker`) on PostgreSQL with a
real Celery worker on Redis evaluating the runs.
"""

import re
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from demo.loop import (
    run_demo,
    split_questions,
)
from evaluation.models import EvaluationRun
from feedback.models import ReviewItem
from feedback.redaction import normalize_question
from governance.chain import verify_chain
from governance.cycle.models import RetrainingCycle
from governance.models import DecisionLogEntry, PromotionRequest, ReleaseNote, Rollout
from registry.models import Label, PromptVersion
from tests.helpers import ensure_roles

WORD = re.compile(r"[a-z0-9]+")


def words(question: str) -> set[str]:
    # Independent of the implementation under test: plain lower-case words.
    return set(WORD.findall(question.lower()))


def golden_questions(cycle: RetrainingCycle) -> list[str]:
    return list(cycle.golden_snapshot.examples.values_list("question", flat=True))


def assert_no_golden_question_in_prompts(cycle: RetrainingCycle) -> None:
    goldens = golden_questions(cycle)
    normalized = {normalize_question(q) for q in goldens}
    for version in PromptVersion.objects.filter(template=cycle.template):
        for example in version.few_shot_examples:
            asked = example["question"]
            assert normalize_question(asked) not in normalized, asked
            for golden in goldens:
                a, b = words(asked), words(golden)
                assert len(a & b) / len(a | b) < 0.8, (asked, golden)


def assert_loop_closed(cycles: list[RetrainingCycle]) -> None:
    """The acceptance criteria, for every template the demo ran."""
    hits = {"champion": 0.0, "challenger": 0.0}
    for cycle in cycles:
        database = cycle.template.target_database.name
        golden, _ = split_questions(database)
        # Evaluated on exactly the golden half of the database.
        assert set(golden_questions(cycle)) == {q.question for q in golden}
        for role in hits:
            run: EvaluationRun = getattr(cycle, f"{role}_run")
            assert run.status == EvaluationRun.Status.SUCCEEDED
            hits[role] += run.summary["overall"]["execution_accuracy"] * run.total
        champion = cycle.champion_run.summary["overall"]["execution_accuracy"]
        challenger = cycle.challenger_run.summary["overall"]["execution_accuracy"]
        assert challenger > champion, cycle.template.name
        assert_no_golden_question_in_prompts(cycle)
        request = cycle.promotion_request
        if cycle.decision.decision != "retrain":
            continue
        rollout = Rollout.objects.get(request=request)
        label = Label.objects.get(template=cycle.template, name="production")
        if rollout.status == Rollout.Status.ROLLED_BACK:
            # The simulated incident: its online gates rolled it back.
            assert request.status == PromotionRequest.Status.REVERTED
            assert "execution_success" in rollout.last_evidence["failed"]
            assert label.prompt_version == cycle.champion_prompt
            continue
        assert rollout.status == Rollout.Status.COMPLETED
        assert request.status == PromotionRequest.Status.PROMOTED
        approvals = list(request.approvals.all())
        assert request.tier == 2 and [a.role for a in approvals] == ["ml_lead"]
        requester, approver = request.requested_by, approvals[0].approver
        assert requester is not None and requester != approver
        assert (requester.username, approver.username) == ("mleng", "mllead")
        assert ReleaseNote.objects.filter(request=request).exists()
        assert "Shadow traffic since" in request.rationale
        assert label.prompt_version == cycle.challenger_prompt
    assert hits["challenger"] > hits["champion"]
    assert verify_chain().ok


@pytest.mark.django_db
def test_the_demo_closes_the_loop_and_can_run_again(
    api_client: APIClient, tmp_path: Path
) -> None:
    out = StringIO()
    call_command("demo", "--quiet", stdout=out, stderr=StringIO())
    text = out.getvalue()
    cycles = list(RetrainingCycle.objects.select_related("template"))
    assert len(cycles) == 6
    assert_loop_closed(cycles)
    decided = {c.decision.decision for c in cycles}
    assert "retrain" in decided
    assert sum(c.decision.decision == "retrain" for c in cycles) >= 4
    # Staged rollouts: all but one reach production; the second is rolled back.
    statuses = list(Rollout.objects.order_by("pk").values_list("status", flat=True))
    assert statuses[1] == "rolled_back" and statuses.count("rolled_back") == 1
    assert "Staged rollouts (online gates against production):" in text
    # Reviews: a few rejections and one disagreement decided by a second senior.
    adjudicated = ReviewItem.objects.filter(disagreement=True)
    assert adjudicated.count() == 2
    assert set(adjudicated.values_list("decided_by__username", flat=True)) == {
        "senior2"
    }
    assert set(adjudicated.values_list("state", flat=True)) == {
        "approved",
        "rejected",
    }
    assert ReviewItem.objects.filter(state="rejected").count() >= 3
    for line in (
        "Execution accuracy on the golden half (production → challenger):",
        "Decision log verified",
        "/evaluation/dashboard/",
        "/api/docs/",
        "password: loopgate-demo",
    ):
        assert line in text
    seen = re.search(
        r"Challenger accuracy on golden items whose SQL its examples hold \(.*\): "
        r"(\d+\.\d)% of (\d+); on the others: (\d+\.\d)% of (\d+)",
        text,
    )
    assert seen is not None, text
    assert int(seen[2]) + int(seen[4]) == sum(
        c.comparison["overall"]["n"]["challenger"] for c in cycles
    )
    first_key = text.split("(shown once): ")[1].split()[0]
    resolve = "/api/v1/registry/resolve/?template=pets&session_id=s"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {first_key}"}
    assert api_client.get(resolve, **auth).status_code == 200
    readme_commands_succeed(tmp_path)

    counts = [
        m.objects.count()
        for m in (DecisionLogEntry, PromotionRequest, PromptVersion, EvaluationRun)
    ]
    again = StringIO()
    call_command("demo", "--quiet", stdout=again, stderr=StringIO())
    second = again.getvalue()
    assert "reused  pets: golden half of pets_1" in second
    assert "nothing was approved after its window ended" in second
    assert "created " not in second
    assert counts == [
        m.objects.count()
        for m in (DecisionLogEntry, PromotionRequest, PromptVersion, EvaluationRun)
    ]
    # A key is shown only when issued; the one printed first still works.
    assert "(shown once)" not in second
    assert f"unchanged, still the one printed when it was issued ({first_key[:10]}" in (
        second
    )
    assert api_client.get(resolve, **auth).status_code == 200


def readme_commands_succeed(tmp_path: Path) -> None:
    """The README's example commands, as a newcomer types them after the demo."""
    out = StringIO()
    call_command("evaluate", "--template", "pets", "--label", "production", stdout=out)
    assert "succeeded: 21/21 items, 0 could not be scored." in out.getvalue()
    out = StringIO()
    call_command("run_cycle", "pets", stdout=out, stderr=StringIO())
    assert "Cycle #" in out.getvalue() and "reused   dataset snapshot" in out.getvalue()
    call_command("check_triggers", stdout=StringIO())
    head = tmp_path / "head.json"
    call_command("export_log_head", "--output", str(head), stdout=StringIO())
    out = StringIO()
    call_command("verify_decision_log", "--head", str(head), stdout=out)
    assert "Decision log OK" in out.getvalue()


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_the_loop_runs_on_postgresql_with_a_real_worker(
    celery_workers: Callable[..., Any], tmp_path: Path
) -> None:
    ensure_roles()
    celery_workers("loop")
    report = run_demo(timeout_s=300)
    cycles = [result.cycle for result in report.domains]
    assert all(cycle is not None for cycle in cycles)
    assert_loop_closed(cycles)  # type: ignore[arg-type]
    log = (tmp_path / "loop.log").read_text()
    assert "evaluation.process_chunk" in log and "succeeded" in log
