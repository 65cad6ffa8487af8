"""Ingestion service: validation by field, redaction, pseudonyms, idempotency."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from feedback.ingestion import LATER_FIELDS, fingerprint
from feedback.models import Feedback, Interaction, ReviewItem
from feedback.redaction import pseudonymize, question_hash

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]


def test_interaction_is_stored_redacted_and_pseudonymized(
    interaction_event: Build, ingest: Callable
) -> None:
    event = interaction_event(
        question="Orders of jane.doe@example.com last week?",
        generated_sql="SELECT * FROM orders WHERE email = 'jane.doe@example.com'",
        user_id="jane.doe@example.com",
    )
    [result] = ingest(event)
    assert result.status == "created"
    row = Interaction.objects.get(pk=event["event_id"])
    assert row.question == "Orders of [EMAIL] last week?"
    assert row.generated_sql == "SELECT * FROM orders WHERE email = '[EMAIL]'"
    assert row.redaction_flags == ["EMAIL"]
    key = settings.PSEUDONYM_KEY.encode()
    assert row.user_pseudonym == pseudonymize("jane.doe@example.com", key=key)
    assert row.analyst_pseudonym == pseudonymize("analyst-3", key=key)
    assert row.question_hash == question_hash(event["question"], key=key)
    assert row.template.name == "concerts"
    assert row.channel == "api"


def test_same_person_maps_to_the_same_pseudonym(
    interaction_event: Build, ingest: Callable
) -> None:
    ingest(interaction_event(user_id="u-1"), interaction_event(user_id="u-1"))
    ingest(interaction_event(user_id="u-2"))
    assert Interaction.objects.values("user_pseudonym").distinct().count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_id", "not-a-uuid"),
        ("event_id", None),
        ("user_id", ""),
        ("tenant_id", "has spaces"),
        ("question", ""),
        ("question", 42),
        ("prompt_version", "one"),
        ("prompt_version", 999_999),
        ("model_version", 999_999),
        ("outcome", "great"),
        ("consent_scope", "maybe"),
        ("country", "Germany"),
        ("occurred_at", "yesterday"),
        ("occurred_at", "2025-01-01T10:00:00"),
        ("output_tokens", -1),
        ("client_latency_ms", True),
        ("retrieval_ids", "doc-1"),
        ("surprise", "x"),
    ],
)
def test_each_invalid_interaction_field_is_named_and_nothing_is_stored(
    interaction_event: Build, ingest: Callable, field: str, value: Any
) -> None:
    [result] = ingest(interaction_event(**{field: value}))
    assert result.status == "invalid"
    assert list(result.errors) == [field]
    assert not Interaction.objects.exists()


def test_future_timestamps_are_refused(
    interaction_event: Build, ingest: Callable
) -> None:
    later = (timezone.now() + timedelta(hours=1)).isoformat()
    [result] = ingest(interaction_event(occurred_at=later))
    assert result.errors == {"occurred_at": ["Lies in the future."]}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"type": "comment"}, "comment"),
        ({"type": "correction"}, "corrected_sql"),
        (
            {"type": "correction", "corrected_sql": "SELEC nonsense FROM"},
            "corrected_sql",
        ),
        (
            {"type": "correction", "corrected_sql": "DELETE FROM singer"},
            "corrected_sql",
        ),
        ({"type": "thumbs_up", "corrected_sql": "SELECT 1"}, "corrected_sql"),
        ({"type": "time_to_first_action"}, "value"),
        ({"type": "outcome_metric", "value": 3}, "metric_name"),
        ({"type": "copied", "value": 3}, "value"),
        ({"type": "copied", "comment": "hi"}, "comment"),
        ({"type": "meh"}, "type"),
        ({"submitter_role": "king"}, "submitter_role"),
        ({"interaction": str(uuid.UUID(int=7))}, "interaction_id"),
    ],
)
def test_each_invalid_feedback_field_is_named(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    overrides: dict[str, Any],
    field: str,
) -> None:
    interaction = interaction_event()
    ingest(interaction)
    target = overrides.pop("interaction", interaction["event_id"])
    [result] = ingest(feedback_event(target, **overrides))
    assert result.status == "invalid"
    assert field in result.errors
    assert not Feedback.objects.exists()


def test_unparseable_correction_error_names_the_problem_without_pii(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    interaction = interaction_event()
    ingest(interaction)
    bad = "SELECT * FROM singer WHERE name = 'bob@example.com' AND ((("
    [result] = ingest(
        feedback_event(interaction["event_id"], type="correction", corrected_sql=bad)
    )
    message = result.errors["corrected_sql"][0]
    assert "Not a valid read-only query" in message
    assert "bob@example.com" not in message


def test_feedback_kinds_are_categorised_and_weighted(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    interaction = interaction_event()
    iid = interaction["event_id"]
    results = ingest(
        interaction,
        feedback_event(iid, type="thumbs_down", comment="Call +49 30 901820 me"),
        feedback_event(iid, type="copied", submitter_role="senior_analyst"),
        feedback_event(iid, type="time_to_first_action", value=1200),
        feedback_event(iid, type="outcome_metric", metric_name="rows", value=3),
        feedback_event(iid, type="thumbs_up", submitter_role=...),
    )
    assert [r.status for r in results] == ["created"] * 6
    rows = {f.type: f for f in Feedback.objects.all()}
    assert rows["thumbs_down"].comment == "Call [PHONE] me"
    assert rows["thumbs_down"].redaction_flags == ["PHONE"]
    assert rows["thumbs_down"].category == "explicit"
    assert rows["copied"].category == "implicit"
    assert rows["copied"].weight == 1.0
    assert rows["outcome_metric"].category == "outcome"
    assert rows["thumbs_up"].submitter_role == "end_user"
    assert rows["thumbs_up"].weight == 0.5


def test_replay_stores_nothing_and_conflict_stores_nothing(
    interaction_event: Build, ingest: Callable
) -> None:
    event = interaction_event()
    assert ingest(event)[0].status == "created"
    before = Interaction.objects.get(pk=event["event_id"])
    assert ingest(dict(event))[0].status == "duplicate"
    changed = {**event, "question": "Something else entirely"}
    result = ingest(changed)[0]
    assert result.status == "conflict"
    assert "event_id" in result.errors
    after = Interaction.objects.get(pk=event["event_id"])
    assert Interaction.objects.count() == 1
    assert after.question == before.question
    assert after.received_at == before.received_at


def test_omitted_optional_field_and_its_default_are_the_same_payload(
    interaction_event: Build, ingest: Callable
) -> None:
    event = interaction_event(country="")
    ingest(event)
    replay = {k: v for k, v in event.items() if k != "country"}
    assert ingest(replay)[0].status == "duplicate"


def test_repeated_id_inside_one_batch(
    interaction_event: Build, ingest: Callable
) -> None:
    event = interaction_event()
    other = {**event, "question": "different"}
    results = ingest(event, dict(event), other)
    assert [r.status for r in results] == ["created", "duplicate", "conflict"]
    assert Interaction.objects.count() == 1


def test_fingerprint_is_keyed() -> None:
    clean = {"question": "q"}
    assert fingerprint("interaction", clean, key=b"a") != fingerprint(
        "interaction", clean, key=b"b"
    )


def test_batch_of_1000_with_10_bad_items_stores_exactly_990(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    events = []
    for _ in range(500):
        interaction = interaction_event()
        events.append(interaction)
        events.append(feedback_event(interaction["event_id"], type="copied"))
    bad = list(range(5, 1000, 100))
    for index in bad:
        events[index] = {**events[index], "occurred_at": "not a time"}
    results = ingest(*events)
    assert [r.index for r in results if r.status == "invalid"] == bad
    assert all(
        r.errors == {"occurred_at": [r.errors["occurred_at"][0]]}
        for r in results
        if r.status == "invalid"
    )
    assert Interaction.objects.count() + Feedback.objects.count() == 990


def test_feedback_may_reference_an_interaction_of_the_same_batch_only_if_valid(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    broken = interaction_event(outcome="bad")
    results = ingest(broken, feedback_event(broken["event_id"]))
    assert results[1].errors == {
        "interaction_id": ["Unknown interaction; send it first."]
    }


def test_corrections_become_review_items_unless_consent_is_service_only(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    consented = interaction_event()
    private = interaction_event(consent_scope="service_only")
    sql = "SELECT count(*) FROM singer"
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        ingest(
            consented,
            private,
            feedback_event(consented["event_id"], type="correction", corrected_sql=sql),
            feedback_event(private["event_id"], type="correction", corrected_sql=sql),
        )
    assert len(callbacks) == 1
    item = ReviewItem.objects.get()
    assert str(item.interaction_id) == consented["event_id"]
    assert item.state == "pending"
    assert item.weight == 0.8
    assert item.check_status == "executed"
    assert item.result_rows == 1
    assert item.history.count() >= 2


def test_an_event_stored_before_the_token_and_model_fields_still_replays() -> None:
    key = b"k"
    legacy = {"event_id": "e", "question": "q", "output_tokens": 3}
    now = {**legacy, "input_tokens": None, "reported_model": ""}
    # What the fingerprint was before the fields existed: the same hash.
    assert fingerprint("interaction", now, key=key) == fingerprint(
        "interaction", legacy, key=key
    )
    sent = {**now, "input_tokens": 230, "reported_model": "gpt-x"}
    assert fingerprint("interaction", sent, key=key) != fingerprint(
        "interaction", legacy, key=key
    )
    assert {"input_tokens", "reported_model"} == LATER_FIELDS
