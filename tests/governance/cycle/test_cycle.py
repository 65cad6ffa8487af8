"""The retraining cycle on engineered data: collect, validate, build, evaluate,
decide, and running it again."""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.services import create_snapshot
from feedback.redaction import normalize_question
from governance.cycle import collect as datasets
from governance.cycle.validate import (
    Thresholds,
    schema_problem,
    validate_dataset,
)
from registry.models import Label
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import (
    PAIRS,
    approve_spider,
    correct,
    correct_paraphrases,
    cycle,
    golden_snapshot,
    spider,
)

pytestmark = pytest.mark.django_db
GOLDEN = [golden for golden, _ in PAIRS]


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def goldens(target_db: TargetDatabase, production: Label):
    return golden_snapshot(target_db, GOLDEN)


def test_collect_freezes_the_approved_corrections_with_a_manifest(
    production: Label, client_user: User, senior: User, ml_lead: User
) -> None:
    items = correct_paraphrases(production.template, client_user, senior, PAIRS[:3])
    correct(  # pending: not approved, not collected
        template=production.template,
        client=client_user,
        senior=None,
        question="Pending question?",
        sql="SELECT 1",
    )
    end = timezone.now()
    dataset, created = datasets.build_dataset(
        template=production.template,
        window_start=None,
        window_end=end,
        acting_user=ml_lead,
    )
    manifest = dataset.manifest
    assert created and len(dataset.content_hash) == 64
    assert manifest["ids"]["review_items"] == [item.pk for item in items]
    assert manifest["ids"]["golden_examples"] == [i.golden_example_id for i in items]
    assert manifest["counts"]["rows"] == 3
    assert manifest["counts"]["by_consent"] == {"training": 3}
    assert sum(manifest["counts"]["by_segment"].values()) == 3
    assert manifest["window"] == {"start": None, "end": end.isoformat()}
    assert manifest["code_version"] and manifest["content_hash"] == dataset.content_hash
    assert manifest["feedback"]["interactions"] == 4
    assert manifest["feedback"]["feedback_by_type"] == {"correction": 4}
    assert dataset.rows[0]["question"] == spider(PAIRS[0][1])[0]


def test_building_the_same_window_again_gives_the_same_hash(
    production: Label, client_user: User, senior: User
) -> None:
    correct_paraphrases(production.template, client_user, senior, PAIRS[:2])
    end = timezone.now()
    first, _ = datasets.build_dataset(
        template=production.template,
        window_start=None,
        window_end=end,
        acting_user=None,
    )
    # Later data lies outside the window: rebuilding still hashes the same.
    correct_paraphrases(production.template, client_user, senior, PAIRS[2:3])
    again, created = datasets.build_dataset(
        template=production.template,
        window_start=None,
        window_end=end,
        acting_user=None,
    )
    assert not created and (again.pk, again.content_hash) == (
        first.pk,
        first.content_hash,
    )
    wider, created = datasets.build_dataset(
        template=production.template,
        window_start=None,
        window_end=timezone.now(),
        acting_user=None,
    )
    assert created and wider.content_hash != first.content_hash
    assert wider.previous == first and len(wider.rows) == 3


def test_schema_problems_name_what_is_wrong() -> None:
    good = {
        "question": "How many?",
        "sql": "SELECT 1",
        "segment": "easy",
        "consent_scope": "training",
    }
    assert schema_problem(good, "sqlite") == ""
    assert schema_problem({**good, "question": " "}, "sqlite") == "empty question"
    assert schema_problem({**good, "sql": "SELECT FROM ("}, "sqlite") != ""
    assert schema_problem({**good, "sql": "SELECT 1; SELECT 2"}, "sqlite") == (
        "not exactly one statement"
    )
    assert "segment" in schema_problem({**good, "segment": "odd"}, "sqlite")
    assert "consent" in schema_problem(
        {**good, "consent_scope": "service_only"}, "sqlite"
    )


def test_a_shift_of_the_segment_mix_blocks_the_data(
    production: Label, client_user: User, senior: User, goldens: object
) -> None:
    template = production.template
    easy = [(2, 3), (8, 9), (10, 11)]  # all easy or medium single-table queries
    for _, traffic in easy:
        approve_spider(template, client_user, senior, traffic)
    first, _ = datasets.build_dataset(
        template=template,
        window_start=None,
        window_end=timezone.now(),
        acting_user=None,
    )
    joins = [36, 38, 42]  # joins and set operations: hard and extra
    for index in joins:
        approve_spider(template, client_user, senior, index)
    second, _ = datasets.build_dataset(
        template=template,
        window_start=first.window_end,
        window_end=timezone.now(),
        acting_user=None,
    )
    validation = validate_dataset(
        dataset=second,
        production=production.prompt_version,
        golden_snapshot=None,
        thresholds=Thresholds(min_examples=3, max_shift=0.5),
    )
    shift = validation.report["shift"]
    assert shift["previous"] == first.pk and shift["tvd"] > 0.5 and shift["flagged"]
    assert validation.blocking and "shifted" in validation.blocking[0]


def test_contaminated_corrections_never_reach_the_challenger(
    production: Label,
    client_user: User,
    senior: User,
    target_db: TargetDatabase,
    ml_lead: User,
) -> None:
    template = production.template
    kept = correct_paraphrases(template, client_user, senior, PAIRS[:6])
    # Approved before the snapshot is frozen: its golden example enters it.
    from_golden = correct(
        template=template,
        client=client_user,
        senior=senior,
        question="Which year saw the most concerts?",
        sql=spider(27)[1],
    )
    imported = list(golden_snapshot(target_db, GOLDEN).examples.all())
    snapshot = create_snapshot(
        name="with a reviewed golden",
        examples=[*imported, from_golden.golden_example],
        acting_user=None,
    )
    golden_question = spider(2)[0]  # a golden question, asked again verbatim
    for question in (f"  {golden_question.upper()} ", spider(4)[0] + " then"):
        correct(
            template=template,
            client=client_user,
            senior=senior,
            question=question,
            sql=spider(4)[1],
        )
    outcome = cycle(template, ml_lead, min_examples=3)
    found = outcome.cycle.validation["contamination"]
    assert outcome.cycle.golden_snapshot == snapshot
    assert found["approved"]["provenance"] == 1
    assert found["approved"]["normalized_question"] == 1
    assert found["approved"]["near_duplicate"] == 1
    assert found["approved"]["clean"] == len(kept)
    # Every kept correction shares its SQL with its golden paraphrase: counted.
    assert found["approved"]["shared_sql"] == len(kept)
    challenger = outcome.cycle.challenger_prompt
    asked = {normalize_question(e["question"]) for e in challenger.few_shot_examples}
    golden_questions = {
        normalize_question(q)
        for q in snapshot.examples.values_list("question", flat=True)
    }
    assert not asked & golden_questions
    assert normalize_question(spider(4)[0] + " then") not in asked
    assert (
        "Excluded as contaminated by the evaluation snapshot: 3" in challenger.changelog
    )
