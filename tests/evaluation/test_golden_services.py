import pytest
from django.contrib.auth.models import User

from audit.exceptions import AppendOnlyError
from audit.models import AuditEvent
from evaluation.exceptions import GoldenSetError
from evaluation.models import GoldenExample
from evaluation.services import (
    add_golden_example,
    create_snapshot,
    retire_golden_example,
)
from targets.models import TargetDatabase

pytestmark = pytest.mark.django_db


def test_import_is_idempotent_through_external_id(target_db: TargetDatabase) -> None:
    first = add_golden_example(
        target_database=target_db,
        question="How many singers?",
        sql="SELECT count(*) FROM singer",
        source="import",
        external_id="spider-dev:1",
        difficulty="easy",
        acting_user=None,
    )
    again = add_golden_example(
        target_database=target_db,
        question="changed",
        sql="SELECT 1",
        source="import",
        external_id="spider-dev:1",
        acting_user=None,
    )
    assert again.pk == first.pk
    assert GoldenExample.objects.get().question == "How many singers?"
    assert first.domain == "concert_singer"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"question": " "}, "question"),
        ({"sql": ""}, "sql"),
        ({"source": "scraped"}, "source"),
        ({"difficulty": "trivial"}, "difficulty"),
    ],
)
def test_bad_golden_input_names_the_field(
    target_db: TargetDatabase, changes: dict[str, str], field: str
) -> None:
    fields = {"question": "q?", "sql": "SELECT 1", "source": "manual", **changes}
    with pytest.raises(GoldenSetError) as excinfo:
        add_golden_example(target_database=target_db, acting_user=None, **fields)  # type: ignore[arg-type]
    assert excinfo.value.field == field
    assert not GoldenExample.objects.exists()


def test_retiring_is_recorded_and_not_repeatable(
    target_db: TargetDatabase, ml_lead: User
) -> None:
    example = add_golden_example(
        target_database=target_db,
        question="q?",
        sql="SELECT 1",
        source="manual",
        acting_user=ml_lead,
    )
    retired = retire_golden_example(
        example=example, reason="schema changed", acting_user=ml_lead
    )
    assert retired.retired_by == ml_lead
    assert AuditEvent.objects.filter(
        event_type="evaluation.golden_example.retired", actor=ml_lead
    ).exists()
    with pytest.raises(GoldenSetError):
        retire_golden_example(example=example, reason="again", acting_user=ml_lead)
    assert GoldenExample.objects.filter(pk=example.pk).exists()
    assert retired.history.count() == 2


def make_examples(target_db: TargetDatabase, count: int) -> list[GoldenExample]:
    return [
        add_golden_example(
            target_database=target_db,
            question=f"Question {i}?",
            sql=f"SELECT {i}",
            source="manual",
            acting_user=None,
        )
        for i in range(count)
    ]


def test_snapshot_is_content_hashed_and_reused(target_db: TargetDatabase) -> None:
    examples = make_examples(target_db, 3)
    first = create_snapshot(name="s1", examples=examples, acting_user=None)
    again = create_snapshot(name="s2", examples=reversed(examples), acting_user=None)
    assert again.pk == first.pk
    assert first.example_count == 3
    assert set(first.examples.values_list("pk", flat=True)) == {e.pk for e in examples}
    smaller = create_snapshot(name="s3", examples=examples[:2], acting_user=None)
    assert smaller.content_hash != first.content_hash


def test_snapshot_cannot_change_or_take_retired_examples(
    target_db: TargetDatabase,
) -> None:
    examples = make_examples(target_db, 2)
    snapshot = create_snapshot(name="s", examples=examples, acting_user=None)
    snapshot.name = "renamed"
    with pytest.raises(AppendOnlyError):
        snapshot.save()
    with pytest.raises(AppendOnlyError):
        snapshot.items.first().delete()  # type: ignore[union-attr]
    retire_golden_example(example=examples[0], reason="wrong", acting_user=None)
    examples[0].refresh_from_db()
    with pytest.raises(GoldenSetError) as excinfo:
        create_snapshot(name="t", examples=examples, acting_user=None)
    assert excinfo.value.field == "examples"
    with pytest.raises(GoldenSetError):
        create_snapshot(name="empty", examples=[], acting_user=None)
