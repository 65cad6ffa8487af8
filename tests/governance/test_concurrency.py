"""Concurrent writers on PostgreSQL: one promotion, one unforked chain."""

import threading
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import connections

from evaluation.models import GoldenSetSnapshot
from governance.approvals import approve_promotion
from governance.chain import verify_chain
from governance.decisions import open_decision
from governance.exceptions import StaleRequestError
from governance.models import DecisionLogEntry, PromotionRequest, ReleaseNote
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(work: Callable[[int], str], count: int) -> list[str]:
    barrier = threading.Barrier(count)
    results: list[str] = []

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results.append(work(index))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_approvers_at_once_produce_exactly_one_promotion(
    roles_present: None,
    immediate_rollout: object,  # the approval itself moves production
    production: Label,
    template: PromptTemplate,
    model_v1: ModelVersion,
    snapshot: GoldenSetSnapshot,
    ml_lead: User,
    ml_lead2: User,
    senior: User,
) -> None:
    make_run(production.prompt_version, model_v1, snapshot, summary(0.7))
    run = make_run(
        new_prompt(template, prompt_author(), "v2"), model_v1, snapshot, summary(0.8)
    )
    request = request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="race",
        requested_by=senior,
    )
    approvers = [ml_lead, ml_lead2]

    def approve(index: int) -> str:
        try:
            approve_promotion(
                request=PromotionRequest.objects.get(pk=request.pk),
                approver=approvers[index],
            )
        except StaleRequestError:
            return "refused"
        return "promoted"

    assert sorted(run_together(approve, 2)) == ["promoted", "refused"]
    request.refresh_from_db()
    assert request.status == "promoted"
    assert request.approvals.count() == 1
    assert Label.history.filter(template=template).count() == 2  # initial + one move
    assert ReleaseNote.objects.count() == 1
    assert DecisionLogEntry.objects.filter(outcome="deployed").count() == 1
    assert verify_chain().ok


def test_concurrent_decisions_never_fork_the_chain(
    roles_present: None, template: PromptTemplate, ml_lead: User
) -> None:
    def log(index: int) -> str:
        entry = open_decision(
            template=template,
            decision="investigate",
            rationale=f"writer {index}",
            acting_user=ml_lead,
        )
        return str(entry.sequence)

    sequences = run_together(log, 8)
    assert sorted(int(s) for s in sequences) == list(range(1, 9))
    result = verify_chain()
    assert result.ok, result.problems
    assert result.entries == 8
