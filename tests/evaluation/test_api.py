"""Golden-set API: target databases, golden examples, snapshots."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from evaluation.services import (
    add_golden_example,
    create_snapshot,
    retire_golden_example,
)
from targets.models import TargetDatabase
from targets.services import register_target_database

pytestmark = pytest.mark.django_db

API = "/api/v1/evaluation"
ClientAs = Callable[[User], APIClient]


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst")


def golden(
    target: TargetDatabase, n: int, *, days_old: int = 0, **fields: object
) -> GoldenExample:
    example = add_golden_example(
        target_database=target,
        question=f"Question {n}?",
        sql=f"SELECT {n}",
        source=fields.pop("source", "manual"),  # type: ignore[arg-type]
        acting_user=None,
        **fields,  # type: ignore[arg-type]
    )
    if days_old:
        # created_at is auto_now_add: backdating needs an update.
        GoldenExample.objects.filter(pk=example.pk).update(
            created_at=timezone.now() - timedelta(days=days_old)
        )
    return example


# --- access -------------------------------------------------------------------


LISTS = ["target-databases/", "golden-examples/", "snapshots/"]


@pytest.mark.parametrize("url", LISTS)
def test_anonymous_requests_are_refused(api_client: APIClient, url: str) -> None:
    assert api_client.get(f"{API}/{url}").status_code == 401
    assert api_client.post(f"{API}/{url}", {}, format="json").status_code == 401


@pytest.mark.parametrize("url", LISTS)
def test_reading_needs_a_role(
    make_user: Callable[..., User], client_as: ClientAs, url: str
) -> None:
    assert client_as(make_user("nobody")).get(f"{API}/{url}").status_code == 403


@pytest.mark.parametrize("url", LISTS)
def test_analysts_read_but_do_not_write(
    analyst: User, client_as: ClientAs, target_db: TargetDatabase, url: str
) -> None:
    client = client_as(analyst)
    assert client.get(f"{API}/{url}").status_code == 200
    assert client.post(f"{API}/{url}", {}, format="json").status_code == 403


# --- target databases -----------------------------------------------------------


def test_target_database_list_and_detail(
    target_db: TargetDatabase, analyst: User, client_as: ClientAs
) -> None:
    client = client_as(analyst)
    body = client.get(f"{API}/target-databases/").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert (row["name"], row["dialect"], row["table_count"]) == (
        "concert_singer",
        "sqlite",
        4,
    )
    assert "schema" not in row
    detail = client.get(f"{API}/target-databases/concert_singer/").json()
    assert detail["schema"]["singer"][:2] == ["Singer_ID", "Name"]
    assert client.get(f"{API}/target-databases/nope/").status_code == 404


def test_ml_lead_registers_a_target_under_the_data_root(
    ml_lead: User, client_as: ClientAs
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/target-databases/",
        {
            "name": "pets",
            "engine": "sqlite",
            "location": "spider/database/pets_1/pets_1.sqlite",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert set(response.json()["schema"]) == {"Pets", "Student", "Has_Pet"}
    assert AuditEvent.objects.filter(
        event_type="targets.target_database.registered", actor=ml_lead
    ).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "engine": "oracle", "location": "a.sqlite"}, "engine"),
        ({"name": "bad name", "engine": "sqlite", "location": "a"}, "name"),
        ({"name": "x", "engine": "sqlite"}, "location"),
        ({"name": "x", "engine": "sqlite", "location": "/etc/passwd"}, "location"),
        (
            {"name": "x", "engine": "sqlite", "location": "../var/loopgate.sqlite3"},
            "location",
        ),
        ({"name": "x", "engine": "sqlite", "location": "nope.sqlite"}, "location"),
        ({"name": "x", "engine": "postgresql", "location": "DATABASE_URL"}, "location"),
        (
            {"name": "x", "engine": "postgresql", "location": "LOOPGATE_TARGET_UNSET"},
            "location",
        ),
        (
            {
                "name": "concert_singer",
                "engine": "sqlite",
                "location": "spider/database/pets_1/pets_1.sqlite",
            },
            "name",
        ),
    ],
)
def test_bad_target_input_is_a_400_naming_the_field(
    target_db: TargetDatabase,
    ml_lead: User,
    client_as: ClientAs,
    payload: dict[str, str],
    field: str,
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/target-databases/", payload, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()
    assert TargetDatabase.objects.count() == 1


# --- golden examples ------------------------------------------------------------


def test_golden_list_filters_by_segment_source_stale_and_retired(
    target_db: TargetDatabase, analyst: User, client_as: ClientAs
) -> None:
    easy = golden(target_db, 1, difficulty="easy", domain="music")
    old = golden(target_db, 2, difficulty="hard", days_old=365, source="import")
    gone = golden(target_db, 3, days_old=365)
    retire_golden_example(example=gone, reason="wrong", acting_user=None)
    client = client_as(analyst)

    def ids(query: str) -> list[int]:
        response = client.get(f"{API}/golden-examples/?{query}")
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [easy.pk, old.pk, gone.pk]
    assert ids("domain=music") == [easy.pk]
    assert ids("difficulty=hard") == [old.pk]
    assert ids("source=import") == [old.pk]
    assert ids("target_database=concert_singer") == [easy.pk, old.pk, gone.pk]
    assert ids("target_database=other") == []
    assert ids("stale=true") == [old.pk]
    assert ids("stale=false") == [easy.pk, gone.pk]
    assert ids("retired=true") == [gone.pk]
    assert ids("retired=false&stale=false") == [easy.pk]
    rows = client.get(f"{API}/golden-examples/").json()["results"]
    assert [r["is_stale"] for r in rows] == [False, True, False]
    assert rows[2]["retire_reason"] == "wrong"


@pytest.mark.parametrize(
    "query", ["difficulty=trivial", "source=scraped", "stale=maybe", "retired=2"]
)
def test_bad_golden_filters_are_a_400(
    target_db: TargetDatabase, analyst: User, client_as: ClientAs, query: str
) -> None:
    response = client_as(analyst).get(f"{API}/golden-examples/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_golden_detail_and_404(
    target_db: TargetDatabase, analyst: User, client_as: ClientAs
) -> None:
    example = golden(target_db, 1)
    client = client_as(analyst)
    body = client.get(f"{API}/golden-examples/{example.pk}/").json()
    assert (body["question"], body["target_database"]) == (
        "Question 1?",
        "concert_singer",
    )
    assert client.get(f"{API}/golden-examples/999999/").status_code == 404


def test_senior_analyst_adds_a_manual_golden_example(
    target_db: TargetDatabase, senior: User, client_as: ClientAs
) -> None:
    response = client_as(senior).post(
        f"{API}/golden-examples/",
        {
            "target_database": "concert_singer",
            "question": "Names of singers over 30?",
            "sql": "SELECT name FROM singer WHERE age > 30",
            "tags": ["curated"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["source"], body["owner"], body["difficulty"]) == (
        "manual",
        "sen",
        "easy",
    )
    assert (body["domain"], body["tags"], body["is_stale"]) == (
        "concert_singer",
        ["curated"],
        False,
    )
    assert AuditEvent.objects.filter(
        event_type="evaluation.golden_example.added", actor=senior
    ).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target_database": "nope"}, "target_database"),
        ({"question": ""}, "question"),
        ({"sql": ""}, "sql"),
        ({"sql": "SELECT nope FROM singer"}, "sql"),
        ({"sql": "DELETE FROM singer"}, "sql"),
        ({"sql": "SELECT 1; SELECT 2"}, "sql"),
        ({"difficulty": "trivial"}, "difficulty"),
        ({"owner": "ghost"}, "owner"),
        ({"tags": "x"}, "tags"),
    ],
)
def test_bad_golden_input_is_a_400_naming_the_field(
    target_db: TargetDatabase,
    senior: User,
    client_as: ClientAs,
    changes: dict[str, object],
    field: str,
) -> None:
    payload = {
        "target_database": "concert_singer",
        "question": "How many singers?",
        "sql": "SELECT count(*) FROM singer",
        **changes,
    }
    response = client_as(senior).post(f"{API}/golden-examples/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not GoldenExample.objects.exists()


def test_retiring_needs_a_reason_and_happens_once(
    target_db: TargetDatabase, senior: User, analyst: User, client_as: ClientAs
) -> None:
    example = golden(target_db, 1)
    url = f"{API}/golden-examples/{example.pk}/retire/"
    assert client_as(analyst).post(url, {"reason": "x"}).status_code == 403
    client = client_as(senior)
    missing = client.post(url, {}, format="json")
    assert missing.status_code == 400
    assert "reason" in missing.json()
    response = client.post(url, {"reason": "schema changed"}, format="json")
    assert response.status_code == 200
    assert (response.json()["retired_by"], response.json()["retire_reason"]) == (
        "sen",
        "schema changed",
    )
    assert client.post(url, {"reason": "again"}, format="json").status_code == 400
    assert (
        client.post(
            f"{API}/golden-examples/999999/retire/", {"reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert client.get(url).status_code == 403  # no read declared on a command
    assert (
        AuditEvent.objects.filter(
            event_type="evaluation.golden_example.retired"
        ).count()
        == 1
    )


# --- snapshots ------------------------------------------------------------------


def test_ml_lead_snapshots_explicit_ids_idempotently(
    target_db: TargetDatabase, ml_lead: User, analyst: User, client_as: ClientAs
) -> None:
    examples = [golden(target_db, n) for n in range(3)]
    ids = [e.pk for e in examples]
    client = client_as(ml_lead)
    response = client.post(
        f"{API}/snapshots/", {"name": "v1", "example_ids": ids}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["example_count"], body["example_ids"], body["created_by"]) == (
        3,
        ids,
        "lee",
    )
    again = client.post(
        f"{API}/snapshots/",
        {"name": "v2", "example_ids": list(reversed(ids))},
        format="json",
    )
    assert again.json()["id"] == body["id"]
    reader = client_as(analyst)
    detail = reader.get(f"{API}/snapshots/{body['id']}/").json()
    assert (detail["content_hash"], detail["example_ids"]) == (
        body["content_hash"],
        ids,
    )
    listed = reader.get(f"{API}/snapshots/").json()["results"][0]
    assert "example_ids" not in listed
    assert reader.get(f"{API}/snapshots/999999/").status_code == 404


def test_snapshot_from_a_filter_takes_active_matching_examples(
    target_db: TargetDatabase, ml_lead: User, client_as: ClientAs
) -> None:
    hard = golden(target_db, 1, difficulty="hard")
    golden(target_db, 2, difficulty="easy")
    gone = golden(target_db, 3, difficulty="hard")
    retire_golden_example(example=gone, reason="wrong", acting_user=None)
    response = client_as(ml_lead).post(
        f"{API}/snapshots/",
        {"name": "hard", "filter": {"difficulty": "hard"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["example_ids"] == [hard.pk]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "s"}, "example_ids"),
        ({"name": "s", "example_ids": [1], "filter": {}}, "example_ids"),
        ({"example_ids": [1]}, "name"),
        ({"name": "s", "example_ids": []}, "example_ids"),
        ({"name": "s", "example_ids": ["a"]}, "example_ids"),
        ({"name": "s", "example_ids": [999999]}, "example_ids"),
        ({"name": "s", "example_ids": "RETIRED"}, "example_ids"),
        ({"name": "s", "filter": {"domain": "nothing-here"}}, "filter"),
        ({"name": "s", "filter": {"difficulty": "trivial"}}, "filter"),
    ],
)
def test_bad_snapshot_input_is_a_400_naming_the_field(
    target_db: TargetDatabase,
    ml_lead: User,
    client_as: ClientAs,
    payload: dict[str, object],
    field: str,
) -> None:
    active = golden(target_db, 1)
    gone = golden(target_db, 2)
    retire_golden_example(example=gone, reason="wrong", acting_user=None)
    if payload.get("example_ids") == "RETIRED":
        payload = {**payload, "example_ids": [active.pk, gone.pk]}
    response = client_as(ml_lead).post(f"{API}/snapshots/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not GoldenSetSnapshot.objects.exists()


def test_senior_analysts_cannot_freeze_snapshots(
    target_db: TargetDatabase, senior: User, client_as: ClientAs
) -> None:
    example = golden(target_db, 1)
    response = client_as(senior).post(
        f"{API}/snapshots/", {"name": "s", "example_ids": [example.pk]}, format="json"
    )
    assert response.status_code == 403


# --- query counts -----------------------------------------------------------------


SPIDER_DBS = ["pets_1", "singer", "orchestra", "poker_player", "voter_1", "tvshow"]


def test_list_endpoints_use_a_constant_number_of_queries(
    target_db: TargetDatabase,
    analyst: User,
    ml_lead: User,
    client_as: ClientAs,
    make_user: Callable[..., User],
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client = client_as(analyst)
    owners = [make_user(f"owner{n}") for n in range(6)]

    def grow(start: int, count: int) -> None:
        for n in range(start, start + count):
            example = golden(target_db, n, owner=owners[n % 6], approved_by=ml_lead)
            if n % 2:
                retire_golden_example(example=example, reason="r", acting_user=ml_lead)
            else:
                create_snapshot(name=f"s{n}", examples=[example], acting_user=ml_lead)
        for db in SPIDER_DBS[start // 2 : (start + count) // 2]:
            register_target_database(
                name=db,
                engine="sqlite",
                location=f"spider/database/{db}/{db}.sqlite",
                acting_user=ml_lead,
            )

    def read_every_list() -> None:
        # One query counts the rows, one reads the page with its joins.
        for url in LISTS:
            with django_assert_num_queries(2):
                assert client.get(f"{API}/{url}").status_code == 200

    grow(0, 2)
    client.get(f"{API}/snapshots/")  # the user's permission cache fills once
    read_every_list()
    grow(2, 10)
    assert TargetDatabase.objects.count() == 7
    read_every_list()
