"""Interactions and feedback cannot be changed or removed, by any path."""

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, connections, transaction
from django.test import Client

from audit.appendonly import suspended_guards
from audit.exceptions import AppendOnlyError
from feedback.ingestion import ingest_events
from feedback.models import Feedback, Interaction

Build = Callable[..., dict[str, Any]]


@pytest.fixture
def stored(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> tuple[Interaction, Feedback]:
    event = interaction_event()
    signal = feedback_event(event["event_id"], comment="meh")
    ingest(event, signal)
    return Interaction.objects.get(), Feedback.objects.get()


def refused_sql(sql: str, *params: Any) -> str:
    with (
        pytest.raises(DatabaseError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    return str(caught.value)


@pytest.mark.django_db
def test_orm_refuses_saving_and_deleting_stored_rows(
    stored: tuple[Interaction, Feedback],
) -> None:
    interaction, feedback = stored
    interaction.question = "changed"
    with pytest.raises(AppendOnlyError):
        interaction.save()
    with pytest.raises(AppendOnlyError):
        feedback.delete()
    with pytest.raises(AppendOnlyError):
        Interaction.objects.filter(pk=interaction.pk).update(question="changed")
    with pytest.raises(AppendOnlyError):
        Feedback.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        Interaction.objects.bulk_update([interaction], ["question"])
    with pytest.raises(AppendOnlyError):
        Feedback.objects.update_or_create(pk=feedback.pk, defaults={"comment": "x"})
    assert Interaction.objects.get().question != "changed"
    assert Feedback.objects.count() == 1


@pytest.mark.django_db
def test_raw_sql_update_and_delete_are_refused_by_the_database(
    stored: tuple[Interaction, Feedback],
) -> None:
    interaction, feedback = stored
    for table in ("feedback_interaction", "feedback_feedback"):
        column = "question" if table == "feedback_interaction" else "comment"
        message = refused_sql(f"UPDATE {table} SET {column} = 'x'")  # noqa: S608
        assert "append-only" in message
        assert "append-only" in refused_sql(f"DELETE FROM {table}")  # noqa: S608
    assert Interaction.objects.get().question == interaction.question
    assert Feedback.objects.get().comment == feedback.comment


@pytest.mark.django_db
def test_sqlite_insert_or_replace_cannot_replace_a_row(
    stored: tuple[Interaction, Feedback],
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite syntax")
    _, feedback = stored
    message = refused_sql(
        "INSERT OR REPLACE INTO feedback_feedback SELECT * FROM feedback_feedback"
    )
    assert "append-only" in message
    columns = [f.column for f in Feedback._meta.concrete_fields]
    values = ", ".join("?" if c == "comment" else c for c in columns)
    refused_sql(
        f"INSERT OR REPLACE INTO feedback_feedback ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {values} FROM feedback_feedback",
        "replaced",
    )
    assert Feedback.objects.get().comment == feedback.comment


@pytest.mark.django_db
def test_admin_offers_no_change_or_delete(
    stored: tuple[Interaction, Feedback], client: Client, make_user: Callable
) -> None:
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    interaction, feedback = stored
    base = "/admin/feedback"
    page = client.get(f"{base}/interaction/{interaction.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert client.get(f"{base}/interaction/add/").status_code == 403
    assert client.post(f"{base}/feedback/{feedback.pk}/delete/").status_code == 403
    changed = client.post(
        f"{base}/interaction/{interaction.pk}/change/", {"question": "x"}
    )
    assert changed.status_code == 403
    bulk = client.post(
        f"{base}/feedback/",
        {"action": "delete_selected", "_selected_action": [feedback.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert Feedback.objects.count() == 1
    assert Interaction.objects.get().question == interaction.question


@pytest.mark.django_db
def test_suspended_guards_restore_the_triggers(
    stored: tuple[Interaction, Feedback],
) -> None:
    with suspended_guards(), connection.cursor() as cursor:
        cursor.execute("UPDATE feedback_feedback SET comment = 'operator'")
    assert Feedback.objects.get().comment == "operator"
    assert "append-only" in refused_sql("DELETE FROM feedback_feedback")


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_refuses_truncate_of_a_non_empty_table(
    stored: tuple[Interaction, Feedback],
) -> None:
    with connection.cursor() as cursor:
        # Rows inserted in this test's transaction still have deferred FK checks.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("feedback_feedback", "feedback_interaction"):
        message = refused_sql(f"TRUNCATE {table} CASCADE")
        assert "append-only" in message
    assert Feedback.objects.count() == 1


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgres_runtime_role_with_select_and_insert_cannot_change_rows(
    stored: tuple[Interaction, Feedback], interaction_event: Build
) -> None:
    role = f"loopgate_runtime_test_{uuid.uuid4().hex[:8]}"
    user = connection.settings_dict["USER"]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            cursor.execute(f"GRANT {role} TO {user}")
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            cursor.execute(
                "GRANT SELECT, INSERT ON feedback_interaction, feedback_feedback "
                f"TO {role}"
            )
            with transaction.atomic():
                # Without triggers, privileges alone must hold.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("ALTER TABLE feedback_feedback DISABLE TRIGGER USER")
                cursor.execute(f"SET LOCAL ROLE {role}")
                cursor.execute("SELECT count(*) FROM feedback_feedback")
                assert cursor.fetchone() == (1,)
                for statement in (
                    "UPDATE feedback_feedback SET comment = 'x'",
                    "DELETE FROM feedback_feedback",
                    "TRUNCATE feedback_feedback",
                ):
                    with pytest.raises(DatabaseError) as caught, transaction.atomic():
                        cursor.execute(statement)
                    assert "permission denied" in str(caught.value)
                cursor.execute("RESET ROLE")
                cursor.execute("ALTER TABLE feedback_feedback ENABLE TRIGGER USER")
        finally:
            cursor.execute(
                f"REVOKE ALL ON feedback_interaction, feedback_feedback FROM {role}"
            )
            cursor.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
            cursor.execute(f"DROP ROLE {role}")
    assert Feedback.objects.get().comment == "meh"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_replays_of_one_event_store_exactly_one_row(
    interaction_event: Build, analyst: User, purge_events: None
) -> None:
    event = interaction_event()
    barrier = threading.Barrier(8)
    statuses: list[str] = []

    def submit() -> None:
        try:
            barrier.wait()
            [result] = ingest_events(events=[event], acting_user=analyst, channel="api")
            statuses.append(result.status)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Interaction.objects.filter(pk=event["event_id"]).count() == 1
    assert sorted(statuses) == ["created"] + ["duplicate"] * 7
