import pytest
from django.contrib.auth.models import User

from evaluation.exceptions import GoldenSetError
from evaluation.models import GoldenExample, TargetDatabase
from evaluation.services import add_golden_example, retire_golden_example
from governance.models import AuditEvent

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
