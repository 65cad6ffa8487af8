"""Privacy requests: revocation, erasure, retention, and what they leave out."""

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit.appendonly import APPEND_ONLY_TABLES
from audit.models import AuditEvent
from config.celery import app as celery_app
from evaluation.models import GoldenExample
from feedback import audits, export, privacy, selectors, services, tasks
from feedback.consent import subject_pseudonym
from feedback.erasure import ERASED
from feedback.exceptions import PrivacyConflictError, PrivacyError, ReviewConflictError
from feedback.models import Feedback, Interaction, PrivacyRequest, ReviewItem

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]
MARK = "Quillon Vanterpool"
SQL = "SELECT count(*) FROM singer WHERE name <> 'Vanterpool'"


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user("pia", "privacy_officer", is_staff=True)


@pytest.fixture
def person(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    senior: User,
    django_capture_on_commit_callbacks: Callable,
) -> dict[str, Any]:
    """user-42 asked two questions: one correction approved, one left open; a
    bystander (user-17) asked one, corrected and approved too."""
    mine = interaction_event(user_id="user-42", question=f"Singers, {MARK} asks?")
    fix = feedback_event(
        mine["event_id"], type="correction", corrected_sql=SQL, comment=f"{MARK} here"
    )
    open_one = interaction_event(user_id="user-42", question=f"Oldest, says {MARK}?")
    open_fix = feedback_event(
        open_one["event_id"], type="correction", corrected_sql=SQL
    )
    other = interaction_event(user_id="user-17", question="How many singers?")
    other_fix = feedback_event(
        other["event_id"],
        type="correction",
        corrected_sql="SELECT count(*) FROM singer",
    )
    with django_capture_on_commit_callbacks(execute=True):
        ingest(mine, fix, open_one, open_fix, other, other_fix)
    for signal in (fix, other_fix):
        item = ReviewItem.objects.get(feedback_id=signal["event_id"])
        services.claim_review_item(item=item, acting_user=senior)
        services.approve_review_item(item=item, acting_user=senior)
    return {
        "mine": mine,
        "fix": fix,
        "open": ReviewItem.objects.get(feedback_id=open_fix["event_id"]),
        "other": other,
    }


def trail(verb: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(event_type=f"feedback.{verb}"))


def test_filing_names_the_bad_field_and_never_stores_the_raw_id(
    officer: User,
) -> None:
    cases = [
        ({"kind": "forget"}, "kind"),
        ({"user_id": "  "}, "user_id"),
        ({"user_id": "u" * 201}, "user_id"),
        ({"effective_at": timezone.now() + timedelta(days=1)}, "effective_at"),
        ({"effective_at": datetime(2026, 1, 1)}, "effective_at"),  # noqa: DTZ001
    ]
    for overrides, name in cases:
        args = {"kind": "revocation", "user_id": "user-42", **overrides}
        with pytest.raises(PrivacyError) as caught:
            privacy.file_privacy_request(acting_user=officer, **args)
        assert caught.value.field == name
    request = privacy.file_privacy_request(
        kind="revocation",
        user_id="user-42",
        acting_user=officer,
        reference="ticket 7 from jane@example.com",
    )
    assert request.subject_pseudonym == subject_pseudonym("user-42")
    assert request.subject_pseudonym.startswith("p_")
    assert "[EMAIL]" in request.reference
    stored = " ".join(
        str(v) for v in PrivacyRequest.objects.values_list().get(pk=request.pk)
    )
    assert "user-42" not in stored


def test_revocation_retires_derived_goldens_and_closes_open_items(
    person: dict[str, Any],
    officer: User,
    senior2: User,
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
) -> None:
    request = privacy.file_privacy_request(
        kind="revocation", user_id="user-42", acting_user=officer
    )
    assert request.status == "completed"
    golden = GoldenExample.objects.get(source_feedback_id=person["fix"]["event_id"])
    assert golden.retired_at is not None
    assert golden.retire_reason == f"Consent withdrawn (privacy request #{request.pk})."
    bystander = GoldenExample.objects.exclude(pk=golden.pk).get()
    assert bystander.retired_at is None
    item = ReviewItem.objects.get(pk=person["open"].pk)
    assert (item.state, item.decided_by) == ("rejected", None)
    revocation = request.result["revocation"]
    assert revocation["interactions"] == 2
    assert revocation["golden_examples_retired"] == [golden.pk]
    assert revocation["review_items_closed"] == [item.pk]
    assert [e.actor for e in trail("privacy_request.filed")] == [officer]
    assert trail("privacy_request.completed")[0].data["kind"] == "revocation"
    # What they send afterwards is stored for the service, never reviewed.
    late = interaction_event(user_id="user-42")
    late_fix = feedback_event(late["event_id"], type="correction", corrected_sql=SQL)
    ingest(late, late_fix)
    late_item = ReviewItem.objects.get(feedback_id=late_fix["event_id"])
    assert not selectors.list_review_queue().filter(
        interaction__user_pseudonym=request.subject_pseudonym
    )
    with pytest.raises(ReviewConflictError, match="withdrew consent"):
        services.claim_review_item(item=late_item, acting_user=senior2)


def test_revoked_people_leave_exports_and_audit_samples(
    person: dict[str, Any],
    officer: User,
    interaction_event: Build,
    ingest: Callable,
    tmp_path: Path,
) -> None:
    ingest(interaction_event(user_id="user-42"), interaction_event(user_id="user-8"))
    start = timezone.now() - timedelta(hours=1)
    end = timezone.now() + timedelta(minutes=1)
    before = export.export_window(start=start, end=end, directory=tmp_path / "a")
    privacy.file_privacy_request(
        kind="revocation", user_id="user-42", acting_user=officer
    )
    after = export.export_window(start=start, end=end, directory=tmp_path / "b")
    assert before["row_count"] == 5
    assert after["row_count"] == 2
    rows = (Path(after["path"]) / "interactions.jsonl").read_text()
    assert MARK not in rows
    assert subject_pseudonym("user-42") not in rows
    report = audits.sample_audit_items(start=start, end=end, share=1.0)
    sampled = Interaction.objects.filter(
        pk__in=ReviewItem.objects.filter(kind="audit").values("interaction_id")
    )
    assert report["sampled"] == 1
    assert set(sampled.values_list("user_pseudonym", flat=True)) == {
        subject_pseudonym("user-8")
    }


def test_erasure_overwrites_the_persons_text_and_nothing_else(
    person: dict[str, Any],
    officer: User,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    counts = {m: m.objects.count() for m in (Interaction, Feedback, ReviewItem)}
    with django_capture_on_commit_callbacks(execute=True):
        request = privacy.file_privacy_request(
            kind="erasure", user_id="user-42", acting_user=officer
        )
    request.refresh_from_db()
    assert request.status == "completed", request.error
    assert {m: m.objects.count() for m in counts} == counts
    mine = Interaction.objects.get(pk=person["mine"]["event_id"])
    assert (mine.question, mine.generated_sql) == (ERASED, ERASED)
    assert mine.question_hash and mine.user_pseudonym == request.subject_pseudonym
    fix = Feedback.objects.get(pk=person["fix"]["event_id"])
    assert (fix.comment, fix.corrected_sql, fix.type) == (ERASED, ERASED, "correction")
    golden = GoldenExample.objects.get(source_feedback_id=fix.pk)
    assert (golden.question, golden.sql) == (ERASED, ERASED)
    assert golden.retired_at is not None
    assert not golden.history.filter(question__contains=MARK).exists()
    item = ReviewItem.objects.get(feedback_id=fix.pk)
    assert item.approved_sql == ERASED
    assert not item.history.exclude(approved_sql__in=["", ERASED]).exists()
    other = Interaction.objects.get(pk=person["other"]["event_id"])
    assert other.question == "How many singers?"
    assert GoldenExample.objects.filter(question="How many singers?").exists()
    result = request.result
    assert sorted(result["feedback_interaction"]["ids"]) == sorted(
        str(i.pk)
        for i in Interaction.objects.filter(user_pseudonym=mine.user_pseudonym)
    )
    assert result["feedback_feedback"]["columns"] == ["comment", "corrected_sql"]
    done = trail("privacy_request.completed")[0]
    assert done.data["result"]["feedback_interaction"] == 2
    assert MARK not in str(done.data)
    with pytest.raises(PrivacyConflictError):
        privacy.run_erasure(request_id=request.pk)
    # The guards are back: raw SQL still cannot change an event.
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE feedback_interaction SET question = 'x'")


def test_retention_erases_old_event_text_in_recorded_chunks(
    interaction_event: Build,
    feedback_event: Build,
    ingest: Callable,
    senior: User,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    old = [interaction_event(question=f"Old question {i}?") for i in range(3)]
    note = feedback_event(old[0]["event_id"], type="comment", comment="old note")
    fix = feedback_event(old[1]["event_id"], type="correction", corrected_sql=SQL)
    with django_capture_on_commit_callbacks(execute=True):
        ingest(*old, note, fix)
    middle = timezone.now()
    fresh = interaction_event(question="Fresh question?")
    ingest(fresh)
    settings.FEEDBACK_TEXT_RETENTION_DAYS = 30
    monkeypatch.setattr(privacy, "RETENTION_CHUNK", 2)
    runs = privacy.enforce_retention(now=middle + timedelta(days=30))
    assert set(
        Interaction.objects.filter(question=ERASED).values_list("pk", flat=True)
    ) == {i["event_id"] for i in old} or {
        str(pk)
        for pk in Interaction.objects.filter(question=ERASED).values_list(
            "pk", flat=True
        )
    } == {i["event_id"] for i in old}
    assert Interaction.objects.get(pk=fresh["event_id"]).question == "Fresh question?"
    assert [r.kind for r in runs] == ["retention", "retention"]
    assert all(r.status == "completed" and r.requested_by is None for r in runs)
    assert Feedback.objects.get(pk=note["event_id"]).comment == ERASED
    assert Feedback.objects.get(pk=fix["event_id"]).corrected_sql == ERASED
    # The open correction lost its text: it left the queue, closed by the system.
    item = ReviewItem.objects.get(feedback_id=fix["event_id"])
    assert (item.state, item.decided_by) == ("rejected", None)
    assert len(trail("privacy_request.completed")) == 2
    assert privacy.enforce_retention(now=middle + timedelta(days=30)) == []
    settings.FEEDBACK_TEXT_RETENTION_DAYS = 0
    assert privacy.retention_cutoff() is None


def test_retention_keeps_events_younger_than_the_period(
    interaction_event: Build, ingest: Callable, settings: Any
) -> None:
    ingest(interaction_event(question="Kept question?"))
    settings.FEEDBACK_TEXT_RETENTION_DAYS = 1
    assert privacy.enforce_retention(now=datetime.now(tz=UTC)) == []
    assert Interaction.objects.get().question == "Kept question?"


@pytest.mark.postgres
def test_the_runtime_role_cannot_erase_and_the_request_records_why(
    person: dict[str, Any], officer: User
) -> None:
    request = privacy.file_privacy_request(
        kind="erasure", user_id="user-42", acting_user=officer
    )
    role = f"loopgate_runtime_test_{request.pk}_{timezone.now():%H%M%S%f}"
    owner = connection.settings_dict["USER"]
    append_only = ", ".join(APPEND_ONLY_TABLES)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            cursor.execute(f"GRANT {role} TO {owner}")
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            # The README's grants for the runtime role.
            cursor.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                f"TO {role}"
            )
            cursor.execute(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}")
            cursor.execute(
                f"REVOKE UPDATE, DELETE, TRUNCATE ON {append_only} FROM {role}"
            )
            cursor.execute(f"SET ROLE {role}")
            with pytest.raises(DatabaseError, match="owner"):
                privacy.run_erasure(request_id=request.pk)
            cursor.execute("RESET ROLE")
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
            cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
            cursor.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
            cursor.execute(f"DROP ROLE {role}")
    request.refresh_from_db()
    assert request.status == "failed"
    assert "owner" in request.error
    assert trail("privacy_request.failed")[0].reason == request.error
    assert Interaction.objects.filter(question__contains=MARK).count() == 2


def test_tasks_are_idempotent_and_routed_to_the_privacy_queue(
    person: dict[str, Any], officer: User, settings: Any
) -> None:
    request = privacy.file_privacy_request(
        kind="erasure", user_id="user-42", acting_user=officer
    )  # not run: the test transaction never commits
    assert PrivacyRequest.objects.get(pk=request.pk).status == "pending"
    tasks.run_privacy_request(request.pk)
    tasks.run_privacy_request(request.pk)  # a redelivery finds it completed
    tasks.run_privacy_request(10_000)  # gone: logged, no error
    assert PrivacyRequest.objects.get(pk=request.pk).status == "completed"
    assert len(trail("privacy_request.completed")) == 1
    routes = settings.CELERY_TASK_ROUTES
    assert (
        routes["feedback.run_privacy_request"]["queue"] == settings.PRIVACY_TASK_QUEUE
    )
    beat = {entry["task"] for entry in celery_app.conf.beat_schedule.values()}
    assert {"feedback.enforce_retention", "feedback.sample_audit_items"} <= beat
    tasks.sample_audit_items()  # yesterday: nothing yet, and no error
    assert not ReviewItem.objects.filter(kind="audit").exists()


def test_the_command_runs_waiting_erasures_and_retention(
    person: dict[str, Any], officer: User, settings: Any
) -> None:
    request = privacy.file_privacy_request(
        kind="erasure", user_id="user-42", acting_user=officer
    )
    settings.FEEDBACK_TEXT_RETENTION_DAYS = 0
    out = io.StringIO()
    call_command("run_privacy_requests", stdout=out)
    assert f"erasure #{request.pk}" in out.getvalue()
    assert "retention: 0 run(s)" in out.getvalue()
    assert not Interaction.objects.filter(question__contains=MARK).exists()
