"""The compare page over HTTP: roles, refusals, summary, items, lazy rows.

Same fixture as test_compare_pairs: A answers items 0-3 right, B items 0, 2-5.
"""

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from evaluation.models import EvaluationRun, GoldenExample
from evaluation.runs import pair_rows
from registry.models import ModelVersion, PromptTemplate
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    WRONG_SQL,
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)

URL = "/evaluation/compare/"
ITEM_URL = "/evaluation/compare/item/"


@pytest.fixture
def goldens(target_db: TargetDatabase) -> list[GoldenExample]:
    return add_goldens(target_db)


@pytest.fixture
def pair(
    goldens: list[GoldenExample],
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
) -> tuple[EvaluationRun, EvaluationRun]:
    snapshot = snapshot_of(goldens)
    a = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    b = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    return finished_run(a, model_v1, snapshot), finished_run(b, model_v1, snapshot)


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    user = make_user("viv")
    user.user_permissions.add(Permission.objects.get(codename="view_evaluationrun"))
    return user


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_dashboards_url_name_is_this_page() -> None:
    assert reverse("evaluation:comparison") == URL


def test_anonymous_visitors_are_sent_to_login(client: Client, db: None) -> None:
    response = client.get(URL, {"a": 1, "b": 2})
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_users_without_the_view_permission_are_refused(analyst: User) -> None:
    assert logged_in(analyst).get(URL).status_code == 403
    assert logged_in(analyst).get(ITEM_URL).status_code == 403


def test_summary_items_and_links_render_for_a_viewer(
    viewer: User, pair: tuple[EvaluationRun, EvaluationRun]
) -> None:
    a, b = pair
    response = logged_in(viewer).get(URL, {"a": a.pk, "b": b.pk})
    page = response.content.decode()
    assert response.status_code == 200
    assert "66.7%" in page and "83.3%" in page and "+16.7" in page
    assert 'data-segment="difficulty:medium"' in page and "-33.3" in page
    assert page.count('class="item"') == 6
    assert 'data-change="fixed"' in page and 'data-change="broken"' in page
    assert f"champion={a.pk}&amp;challenger={b.pk}" in page  # the JSON twin


def test_the_json_endpoint_agrees_with_the_page(
    viewer: User, pair: tuple[EvaluationRun, EvaluationRun], client_as: Any
) -> None:
    from evaluation.runs.pairs import pair_summary

    a, b = pair
    data = client_as(viewer).get(
        "/api/v1/evaluation/comparisons/", {"champion": a.pk, "challenger": b.pk}
    )
    assert data.status_code == 200
    body, summary = data.json(), pair_summary(a, b)
    for row in summary.metrics:
        assert body["overall"][row.name]["champion"] == pytest.approx(row.a.value)
        assert body["overall"][row.name]["challenger"] == pytest.approx(row.b.value)
        assert body["overall"][row.name]["delta_points"] == pytest.approx(
            row.delta_points
        )
    assert body["mcnemar"]["fixed"] == summary.headline.test.fixed
    assert body["mcnemar"]["broken"] == summary.headline.test.broken


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"a": "abc", "b": "1"}, 400, "a: &#x27;abc&#x27; is not a run id"),
        ({"a": "999999", "b": "999998"}, 404, "No run with that id"),
        ({"template": "nope"}, 400, "no template named"),
        ({"a": "9" * 30, "b": "1"}, 400, "is not a run id"),
        ({"a": "\u0661\u0662", "b": "1"}, 400, "is not a run id"),
    ],
)
def test_bad_ids_are_a_clear_4xx(
    viewer: User, query: dict[str, str], status: int, message: str
) -> None:
    response = logged_in(viewer).get(URL, query)
    assert response.status_code == status
    assert message in response.content.decode()


def test_the_same_run_twice_or_two_snapshots_give_a_message_not_a_500(
    viewer: User,
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
    model_v1: ModelVersion,
) -> None:
    a, b = pair
    client = logged_in(viewer)
    itself = client.get(URL, {"a": a.pk, "b": a.pk})
    assert itself.status_code == 400
    assert "cannot be compared with itself" in itself.content.decode()
    other = finished_run(b.prompt_version, model_v1, snapshot_of(goldens[:2], "x"))
    apart = client.get(URL, {"a": a.pk, "b": other.pk})
    assert apart.status_code == 400
    assert "only runs on the same snapshot" in apart.content.decode()
    only_b = client.get(URL, {"b": b.pk})
    assert only_b.status_code == 400
    assert "a: pick the run to compare with" in only_b.content.decode()
    bad_filter = client.get(URL, {"a": a.pk, "b": b.pk, "change": "sideways"})
    assert bad_filter.status_code == 400
    assert "change must be one of" in bad_filter.content.decode()


def test_filters_narrow_the_items_and_the_list_runs_no_sql(
    viewer: User,
    pair: tuple[EvaluationRun, EvaluationRun],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(pair_rows, "run_on_target", lambda t, sql: calls.append(sql))
    a, b = pair
    client = logged_in(viewer)
    fixed = client.get(URL, {"a": a.pk, "b": b.pk, "change": "fixed"}).content
    assert fixed.decode().count('class="item"') == 2
    broken = client.get(URL, {"a": a.pk, "b": b.pk, "change": "broken"}).content
    assert broken.decode().count('data-change="broken"') == 1
    search = client.get(URL, {"a": a.pk, "b": b.pk, "q": "French"}).content.decode()
    assert search.count('class="item"') == 1 and "1 item." in search
    assert calls == []


def test_the_page_query_count_does_not_grow_with_the_items_shown(
    viewer: User, pair: tuple[EvaluationRun, EvaluationRun]
) -> None:
    a, b = pair
    client = logged_in(viewer)
    counts = []
    for change in ("broken", ""):  # one item shown, then six
        with CaptureQueriesContext(connection) as queries:
            client.get(URL, {"a": a.pk, "b": b.pk, "change": change})
        counts.append(len(queries))
    assert counts[0] == counts[1]


def test_the_picker_offers_runs_per_snapshot_and_partners_of_a_run(
    viewer: User, pair: tuple[EvaluationRun, EvaluationRun], template: PromptTemplate
) -> None:
    a, b = pair
    client = logged_in(viewer)
    picker = client.get(URL, {"template": template.name}).content.decode()
    assert picker.count('class="picker snapshot-picker"') == 1
    assert f'<option value="{a.pk}"' in picker and f'<option value="{b.pk}"' in picker
    partners = client.get(URL, {"a": a.pk}).content.decode()
    assert f'name="b"><option value="{b.pk}">' in partners
    assert f'<option value="{a.pk}"' not in partners


def test_opening_an_item_shows_gold_and_both_predictions_rows(
    viewer: User,
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
) -> None:
    a, b = pair
    response = logged_in(viewer).get(
        ITEM_URL, {"a": a.pk, "b": b.pk, "item": goldens[1].pk, "change": "broken"}
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="change">broken<' in page
    assert page.count("· 6 rows") == 2  # gold and A
    assert WRONG_SQL in page
    assert "change=broken" in page  # back to the filtered list


def test_an_item_that_fails_shows_the_engine_message(
    viewer: User,
    pair: tuple[EvaluationRun, EvaluationRun],
    goldens: list[GoldenExample],
) -> None:
    a, b = pair
    b.results.filter(golden_example=goldens[0]).update(
        predicted_sql="SELECT nope FROM singer"
    )
    page = logged_in(viewer).get(
        ITEM_URL, {"a": a.pk, "b": b.pk, "item": goldens[0].pk}
    )
    assert page.status_code == 200
    assert "no such column: nope" in page.content.decode()


@pytest.mark.parametrize(
    ("item", "status", "message"),
    [("abc", 400, "not an item id"), ("999999", 404, "Both runs must have")],
)
def test_bad_item_ids_are_a_clear_4xx(
    viewer: User,
    pair: tuple[EvaluationRun, EvaluationRun],
    item: str,
    status: int,
    message: str,
) -> None:
    a, b = pair
    response = logged_in(viewer).get(ITEM_URL, {"a": a.pk, "b": b.pk, "item": item})
    assert response.status_code == status and message in response.content.decode()


def test_the_run_admin_offers_compare_with_another_run(
    auditor: User, pair: tuple[EvaluationRun, EvaluationRun]
) -> None:
    a, b = pair
    client = logged_in(auditor)
    change = client.get(f"/admin/evaluation/evaluationrun/{b.pk}/change/")
    assert f'id="compare-with" href="{URL}?a={b.pk}"' in change.content.decode()
    champion = client.get(
        f"/admin/evaluation/evaluationrun/{b.pk}/compare/?with={a.pk}"
    )
    assert f'href="{URL}?a={a.pk}&amp;b={b.pk}"' in champion.content.decode()


def test_governance_links_never_compare_a_run_with_itself() -> None:
    from governance.admin_tables import comparison_link

    assert comparison_link(3, 4)[0]["url"] == f"{URL}?a=3&b=4"
    assert all(URL not in link["url"] for link in comparison_link(3, 3))
