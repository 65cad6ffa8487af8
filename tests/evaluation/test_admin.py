"""Golden-set admin: manual adds through the service, retiring, staleness, snapshots."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from audit.models import AuditEvent
from evaluation.models import GoldenExample
from evaluation.services import (
    add_golden_example,
    create_snapshot,
    retire_golden_example,
)
from targets.models import TargetDatabase

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/evaluation/goldenexample/"


@pytest.fixture
def admin_client_for(client: Client) -> Callable[[User], Client]:
    def login(user: User) -> Client:
        client.force_login(user)
        return client

    return login


def golden(target: TargetDatabase, n: int, *, days_old: int = 0) -> GoldenExample:
    example = add_golden_example(
        target_database=target,
        question=f"Question number {n}?",
        sql=f"SELECT {n}",
        source="import",
        external_id=f"test:{n}",
        acting_user=None,
    )
    if days_old:
        GoldenExample.objects.filter(pk=example.pk).update(
            created_at=timezone.now() - timedelta(days=days_old)
        )
    return example


def test_changelist_shows_staleness_and_filters_on_it(
    target_db: TargetDatabase,
    ml_lead: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    golden(target_db, 1)
    golden(target_db, 2, days_old=400)
    client = admin_client_for(ml_lead)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b"column-stale" in page.content
    stale = client.get(CHANGELIST, {"stale": "yes"})
    assert b"Question number 2?" in stale.content
    assert b"Question number 1?" not in stale.content
    fresh = client.get(CHANGELIST, {"stale": "no"})
    assert b"Question number 1?" in fresh.content
    assert b"Question number 2?" not in fresh.content


def _add_form(target: TargetDatabase, sql: str) -> dict[str, object]:
    return {
        "target_database": target.pk,
        "question": "Who is the oldest singer?",
        "sql": sql,
        "domain": "",
        "difficulty": "",
        "tags": '["admin"]',
        "owner": "",
    }


def test_admin_adds_a_manual_example_through_the_service(
    target_db: TargetDatabase,
    ml_lead: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    response = admin_client_for(ml_lead).post(
        f"{CHANGELIST}add/",
        _add_form(target_db, "SELECT name FROM singer ORDER BY age DESC LIMIT 1"),
    )
    assert response.status_code == 302, response.content
    example = GoldenExample.objects.get()
    assert (example.source, example.owner, example.tags) == (
        "manual",
        ml_lead,
        ["admin"],
    )
    assert example.difficulty == "medium"  # derived: ORDER BY + LIMIT
    assert AuditEvent.objects.filter(
        event_type="evaluation.golden_example.added", actor=ml_lead
    ).exists()


def test_admin_shows_sql_that_does_not_run_on_the_form(
    target_db: TargetDatabase,
    ml_lead: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    client = admin_client_for(ml_lead)
    for sql in ("SELECT nope FROM singer", "DROP TABLE singer"):
        response = client.post(f"{CHANGELIST}add/", _add_form(target_db, sql))
        assert response.status_code == 200
        assert b"does not run on concert_singer" in response.content
    assert not GoldenExample.objects.exists()


def test_retire_action_needs_a_reason_and_records_it(
    target_db: TargetDatabase,
    ml_lead: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    examples = [golden(target_db, n) for n in range(3)]
    client = admin_client_for(ml_lead)
    chosen = [examples[0].pk, examples[1].pk]
    refused = client.post(
        CHANGELIST,
        {"action": "retire", "_selected_action": chosen, "reason": ""},
        follow=True,
    )
    assert b"Retiring needs a reason." in refused.content
    assert not GoldenExample.objects.filter(retired_at__isnull=False).exists()
    done = client.post(
        CHANGELIST,
        {"action": "retire", "_selected_action": chosen, "reason": "schema moved"},
        follow=True,
    )
    assert b"Retired 2 golden examples." in done.content
    retired = GoldenExample.objects.filter(retired_at__isnull=False)
    assert {e.pk for e in retired} == set(chosen)
    assert {(e.retired_by, e.retire_reason) for e in retired} == {
        (ml_lead, "schema moved")
    }
    assert (
        AuditEvent.objects.filter(
            event_type="evaluation.golden_example.retired", reason="schema moved"
        ).count()
        == 2
    )
    again = client.post(
        CHANGELIST,
        {"action": "retire", "_selected_action": chosen, "reason": "again"},
        follow=True,
    )
    assert b"already retired" in again.content


def test_readers_get_no_retire_action(
    target_db: TargetDatabase,
    auditor: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    example = golden(target_db, 1)
    client = admin_client_for(auditor)
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert b'value="retire"' not in page.content
    client.post(
        CHANGELIST,
        {"action": "retire", "_selected_action": [example.pk], "reason": "x"},
    )
    example.refresh_from_db()
    assert example.retired_at is None


def test_examples_are_never_edited_or_deleted_in_admin(
    target_db: TargetDatabase,
    make_user: Callable[..., User],
    admin_client_for: Callable[[User], Client],
) -> None:
    root = make_user("root", is_superuser=True, is_staff=True)
    example = golden(target_db, 1)
    client = admin_client_for(root)
    url = f"{CHANGELIST}{example.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert b"Question number 1?" in page.content
    assert b'name="_save"' not in page.content
    assert client.post(url, {"question": "changed"}).status_code == 403
    assert client.post(f"{CHANGELIST}{example.pk}/delete/").status_code == 403
    example.refresh_from_db()
    assert example.question == "Question number 1?"


def test_snapshot_admin_is_read_only_and_lists_its_examples(
    target_db: TargetDatabase,
    ml_lead: User,
    admin_client_for: Callable[[User], Client],
) -> None:
    examples = [golden(target_db, n) for n in range(2)]
    retire_golden_example(example=golden(target_db, 9), reason="x", acting_user=None)
    snapshot = create_snapshot(name="frozen", examples=examples, acting_user=ml_lead)
    client = admin_client_for(ml_lead)
    listing = client.get("/admin/evaluation/goldensetsnapshot/")
    assert snapshot.content_hash[:12].encode() in listing.content
    page = client.get(f"/admin/evaluation/goldensetsnapshot/{snapshot.pk}/change/")
    assert page.status_code == 200
    assert snapshot.content_hash.encode() in page.content
    assert b"Question number 0?" in page.content
    assert b"Question number 1?" in page.content
    assert b"Question number 9?" not in page.content
    assert client.get("/admin/evaluation/goldensetsnapshot/add/").status_code == 403
    assert (
        client.post(
            f"/admin/evaluation/goldensetsnapshot/{snapshot.pk}/delete/"
        ).status_code
        == 403
    )


def test_target_admin_registers_through_the_service(
    ml_lead: User, admin_client_for: Callable[[User], Client]
) -> None:
    client = admin_client_for(ml_lead)
    form = {"name": "pets", "engine": "sqlite", "description": ""}
    for location, error in [
        ("/etc/passwd", b"relative to TARGET_DATABASE_ROOT"),
        ("../var/loopgate.sqlite3", b"leaves TARGET_DATABASE_ROOT"),
        ("spider/nope.sqlite", b"No SQLite file"),
    ]:
        page = client.post(
            "/admin/targets/targetdatabase/add/", {**form, "location": location}
        )
        assert page.status_code == 200
        assert error in page.content
    assert not TargetDatabase.objects.exists()
    done = client.post(
        "/admin/targets/targetdatabase/add/",
        {**form, "location": "spider/database/pets_1/pets_1.sqlite"},
    )
    assert done.status_code == 302, done.content
    target = TargetDatabase.objects.get()
    assert set(target.schema) == {"Pets", "Student", "Has_Pet"}
    assert AuditEvent.objects.filter(
        event_type="targets.target_database.registered", actor=ml_lead
    ).exists()
    url = f"/admin/targets/targetdatabase/{target.pk}/change/"
    client.post(url, {"name": "x", "location": "other.sqlite", "description": "d"})
    target.refresh_from_db()
    assert (target.name, target.location, target.description) == (
        "pets",
        "spider/database/pets_1/pets_1.sqlite",
        "d",
    )
