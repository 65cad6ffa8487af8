"""Cycle decisions on engineered data, and running the cycle again."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError

from evaluation.models import (
    EvaluationRun,
    GoldenSetSnapshot,
)
from evaluation.runs.services import (
    execute_run,
    start_run,
)
from evaluation.services import retire_golden_example
from governance import breaker
from governance.approvals import approve_promotion
from governance.cycle import evaluate as evaluate_step
from governance.cycle.models import RetrainingCycle
from governance.exceptions import GovernanceError
from governance.models import (
    DecisionLogEntry,
    GovernancePolicy,
    PromotionRequest,
    ReleaseNote,
)
from registry.models import Label, ModelVersion, PromptVersion
from registry.services import create_prompt_version, register_model_version
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import (
    PAIRS,
    approve_spider,
    correct_paraphrases,
    cycle,
    golden_snapshot,
    spider,
)
from tests.helpers import TEMPLATE_TEXT

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]
GOLDEN = [golden for golden, _ in PAIRS]
# Stadium questions: none of them is, or paraphrases, a golden item.
UNRELATED = [14, 16, 18, 22, 28, 31]


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def goldens(target_db: TargetDatabase, production: Label) -> GoldenSetSnapshot:
    return golden_snapshot(target_db, GOLDEN)


def approve_unrelated(template, client_user: User, senior: User) -> None:
    for index in UNRELATED:
        approve_spider(template, client_user, senior, index)


def test_a_better_challenger_is_decided_retrain_and_goes_to_tier_two(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
    ml_lead2: User,
) -> None:
    correct_paraphrases(production.template, client_user, senior)
    outcome = cycle(production.template, ml_lead)
    run = outcome.cycle
    assert run.status == RetrainingCycle.Status.COMPLETED and not outcome.waiting
    assert [s["name"] for s in run.steps] == [
        "collect",
        "validate",
        "build",
        "evaluate",
        "decide",
    ]
    assert all(s["status"] == "ok" and s["duration_ms"] >= 0 for s in run.steps)
    champion = run.champion_run.summary["overall"]["execution_accuracy"]
    challenger = run.challenger_run.summary["overall"]["execution_accuracy"]
    assert challenger > champion
    entry = run.decision
    assert (entry.decision, entry.decided_by) == ("retrain", ml_lead)
    assert entry.data_snapshot_ref == f"dataset-snapshot:{run.dataset_id}"
    assert entry.data_snapshot_hash == run.dataset.content_hash
    assert entry.prompt_version == run.challenger_prompt
    assert entry.evaluation_summary["overall"]["challenger"] == challenger
    assert set(entry.evaluation_summary["segments"]) == set(
        run.challenger_run.summary["segments"]
    )
    # The decision says what kind of mistakes the data fixes and why this is a
    # prompt refresh: a handful of corrections in one week is no stable trend.
    classes = entry.evaluation_summary["error_classes"]
    assert sum(classes["dataset"].values()) >= len(run.dataset.rows)
    assert classes["advice"]["recommendation"] == "prompt_refresh"
    assert "fewer than 200" in classes["advice"]["statement"]
    assert classes["advice"]["statement"] in entry.rationale
    request = run.promotion_request
    assert (request.tier, request.status, request.requested_by) == (
        2,
        PromotionRequest.Status.PENDING,
        ml_lead,
    )
    assert request.gates_passed and request.decision == entry
    assert "Retraining cycle" in request.rationale
    card = request.model_cards.get()
    assert card.content["lineage"]["dataset"]["hash"] == run.dataset.content_hash
    assert (
        card.content["lineage"]["corrections_used"]
        == (run.dataset.manifest["ids"]["review_items"])
    )
    assert card.content["error_profile"]["corrections_used"] == classes["dataset"]
    approve_promotion(request=request, approver=ml_lead2, comment="ok")
    label = Label.objects.get(template=production.template, name="production")
    assert label.prompt_version == run.challenger_prompt
    assert ReleaseNote.objects.filter(request=request).exists()
    assert run.challenger_prompt.parent == production.prompt_version
    assert "refreshed from approved corrections" in run.challenger_prompt.changelog


def test_too_few_approved_corrections_defer_without_building(
    production: Label, goldens: GoldenSetSnapshot, client_user: User, senior: User
) -> None:
    correct_paraphrases(production.template, client_user, senior, PAIRS[:2])
    run = cycle(production.template, None).cycle
    assert run.decision.decision == "defer" and "fewer than the 5" in (
        run.decision.rationale
    )
    assert run.challenger_prompt is None and run.challenger_run is None
    assert run.decision.data_snapshot_hash == run.dataset.content_hash
    assert [s["status"] for s in run.steps][-1] == "skipped"
    assert PromptVersion.objects.count() == 1 and EvaluationRun.objects.count() == 0


def test_without_a_golden_snapshot_the_cycle_asks_for_investigation(
    production: Label, client_user: User, senior: User
) -> None:
    correct_paraphrases(production.template, client_user, senior)
    run = cycle(production.template, None).cycle
    assert run.decision.decision == "investigate"
    assert "No golden snapshot" in run.decision.rationale


def test_a_challenger_that_does_not_beat_production_is_deferred(
    production: Label, goldens: GoldenSetSnapshot, client_user: User, senior: User
) -> None:
    # A drop within the breaker's margin: no halt, just no improvement.
    GovernancePolicy.objects.create(
        template=production.template, circuit_breaker_margin=0.5
    )
    approve_unrelated(production.template, client_user, senior)
    run = cycle(production.template, None).cycle
    assert run.challenger_prompt is not None and run.challenger_run is not None
    assert run.decision.decision == "defer"
    assert "does not beat production" in run.decision.rationale
    assert run.promotion_request is None


def test_a_collapsed_challenger_trips_the_breaker_and_halts_once(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    template = production.template
    # The template's best run so far: a prompt holding every golden answer.
    perfect = create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=[
            {"question": spider(i)[0], "sql": spider(i)[1]} for i in GOLDEN
        ],
        parameters={},
        changelog="oracle",
        author=ml_lead,
    )
    best = start_run(
        prompt_version=perfect,
        model_version=production.model_version,
        snapshot=goldens,
        acting_user=None,
        enqueue=False,
    )
    assert execute_run(run=best).summary["overall"]["execution_accuracy"] == 1.0
    approve_unrelated(template, client_user, senior)
    run = cycle(template, None).cycle
    halts = DecisionLogEntry.objects.filter(template=template, decision="halt")
    assert run.decision.decision == "halt" and list(halts) == [run.decision]
    assert breaker.is_halted(template)
    # The next cycle (new data) is deferred while the breaker is open.
    correct_paraphrases(template, client_user, senior, PAIRS[:1])
    later = cycle(template, None).cycle
    assert later.pk != run.pk and later.decision.decision == "defer"
    assert "circuit breaker" in later.decision.rationale


def test_running_again_reuses_everything_and_decides_nothing_twice(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    template = production.template
    correct_paraphrases(template, client_user, senior)
    first = cycle(template, ml_lead)
    counts = [
        model.objects.count()
        for model in (DecisionLogEntry, PromptVersion, EvaluationRun, PromotionRequest)
    ]
    second = cycle(template, ml_lead)
    assert second.cycle.pk == first.cycle.pk
    assert any("nothing was approved after" in line for line in second.reused)
    assert f"decision #{first.cycle.decision.sequence} (retrain)" in second.reused
    assert counts == [
        model.objects.count()
        for model in (DecisionLogEntry, PromptVersion, EvaluationRun, PromotionRequest)
    ]
    # New approved data is a new dataset and cycle; the pending request makes
    # the better challenger wait.
    approve_spider(template, client_user, senior, 31)
    third = cycle(template, ml_lead).cycle
    assert third.pk != first.cycle.pk and third.dataset != first.cycle.dataset
    assert len(third.dataset.rows) == len(PAIRS) + 1
    assert third.decision.decision == "defer" and "is pending" in (
        third.decision.rationale
    )


def test_a_failed_step_leaves_a_resumable_cycle(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    correct_paraphrases(production.template, client_user, senior)

    def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("worker pool on fire")

    monkeypatch.setattr(evaluate_step, "evaluate", broken)
    with pytest.raises(RuntimeError):
        cycle(production.template, None)
    failed = RetrainingCycle.objects.get()
    assert failed.status == RetrainingCycle.Status.FAILED
    assert "on fire" in failed.error and failed.challenger_prompt is not None
    monkeypatch.undo()
    outcome = cycle(production.template, None)
    assert outcome.cycle.pk == failed.pk
    assert f"cycle #{failed.pk} (failed): resumed" in outcome.reused
    assert f"challenger prompt v{failed.challenger_prompt.number}" in outcome.reused
    assert outcome.cycle.status == RetrainingCycle.Status.COMPLETED
    assert DecisionLogEntry.objects.filter(decision="retrain").count() == 1


def test_a_template_has_one_active_cycle_at_a_time(production: Label) -> None:
    RetrainingCycle.objects.create(template=production.template, trigger="manual")
    with pytest.raises(IntegrityError):
        RetrainingCycle.objects.create(template=production.template, trigger="manual")


def test_a_registered_model_version_can_be_the_challenger(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
) -> None:
    tuned = register_model_version(
        name="knn-tuned",
        provider="offline-retrieval",
        model_identifier="nearest-example",
        generation_parameters={"neighbours": 1, "tuned_on": "dataset export"},
        endpoint_name="",
        acting_user=ml_lead,
    )
    correct_paraphrases(production.template, client_user, senior)
    run = cycle(production.template, ml_lead, challenger_model="knn-tuned").cycle
    assert run.challenger_model == tuned and run.champion_model != tuned
    assert run.challenger_run.model_version == tuned
    assert run.promotion_request.model_version == tuned
    with pytest.raises(GovernanceError, match="No model version"):
        correct_paraphrases(production.template, client_user, senior, PAIRS[:1])
        cycle(production.template, ml_lead, challenger_model="nope")
    assert ModelVersion.objects.filter(name="nope").count() == 0


def test_deferred_data_rolls_forward_and_promoted_data_does_not(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
    ml_lead2: User,
) -> None:
    template = production.template
    correct_paraphrases(template, client_user, senior, PAIRS[:2])
    deferred = cycle(template, ml_lead).cycle
    assert deferred.decision.decision == "defer"
    correct_paraphrases(template, client_user, senior, PAIRS[2:])
    promoted = cycle(template, ml_lead).cycle
    # The deferred rows are in the next window, which starts where it did.
    assert promoted.dataset.window_start is None
    assert len(promoted.dataset.rows) == len(PAIRS)
    approve_promotion(
        request=promoted.promotion_request, approver=ml_lead2, comment="ok"
    )
    approve_spider(template, client_user, senior, 31)
    after = cycle(template, ml_lead).cycle
    assert after.dataset.window_start == promoted.dataset.window_end
    assert [row["question"] for row in after.dataset.rows] == [spider(31)[0]]


def test_a_correction_whose_golden_example_was_retired_is_left_out(
    production: Label, client_user: User, senior: User
) -> None:
    items = correct_paraphrases(production.template, client_user, senior, PAIRS[:2])
    retire_golden_example(
        example=items[0].golden_example, reason="wrong join", acting_user=senior
    )
    run = cycle(production.template, None).cycle
    assert [row["review_item"] for row in run.dataset.rows] == [items[1].pk]
