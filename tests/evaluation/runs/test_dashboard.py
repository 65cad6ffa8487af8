"""The accuracy dashboard: SVG charts, permissions, exports, and a real
headless Chromium rendering it with data from runs executed by the runner."""

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from evaluation.models import (
    EvaluationRun,
    GoldenSetSnapshot,
)
from evaluation.runs.charts import (
    Point,
    Series,
    bar_chart,
    line_chart,
)
from registry.models import ModelVersion, PromptTemplate
from registry.services import move_label
from targets.models import TargetDatabase
from tests.evaluation.runs.run_fixtures import (
    add_goldens,
    finished_run,
    prompt_with,
    snapshot_of,
)

URL = "/evaluation/dashboard/"


@pytest.fixture
def ml_lead(make_user: Callable[..., User]) -> User:
    # Role groups come from a data migration that the flush after a transactional
    # test removes; these tests need an author, not the role.
    return make_user("lee", is_staff=True)


@pytest.fixture
def viewer(make_user: Callable[..., User]) -> User:
    user = make_user("viv")
    user.user_permissions.add(Permission.objects.get(codename="view_evaluationrun"))
    return user


def test_line_chart_draws_one_point_per_value_and_escapes_names() -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    series = [
        Series(
            "a<b>", [Point(start, 0.5, "x"), Point(start + dt.timedelta(1), 1.0, "y")]
        ),
        Series("c", [Point(start, 0.25, "z & w")]),
    ]
    svg = line_chart(series, title="t", y_label="accuracy")
    assert svg.count('<circle class="point"') == 3
    assert svg.count('<polyline class="series"') == 2
    assert "a&lt;b&gt;" in svg and "a<b>" not in svg and "z &amp; w" in svg
    assert 'data-value="0.250000"' in svg
    empty = line_chart([], title="t", y_label="accuracy")
    assert "<circle" not in empty and empty.startswith("<svg")


def test_bar_chart_skips_missing_values() -> None:
    svg = bar_chart(
        ["overall", "difficulty:easy"],
        [("production", [0.5, None]), ("challenger", [0.75, 1.0])],
        title="t",
        y_label="accuracy",
    )
    assert svg.count('<rect class="bar"') == 3
    assert 'data-segment="difficulty:easy" data-value="1.000000"' in svg


@pytest.fixture
def labelled_runs(
    target_db: TargetDatabase,
    template: PromptTemplate,
    ml_lead: User,
    model_v1: ModelVersion,
) -> tuple[GoldenSetSnapshot, list[EvaluationRun]]:
    snapshot = snapshot_of(add_goldens(target_db))
    champion = prompt_with(template, ml_lead, correct=[0, 1, 2, 3])
    challenger = prompt_with(template, ml_lead, correct=[0, 2, 3, 4, 5])
    for name, prompt in (("production", champion), ("challenger", challenger)):
        move_label(
            template=template,
            name=name,
            prompt_version=prompt,
            model_version=model_v1,
            reason="dashboard test",
            acting_user=ml_lead,
        )
    runs = [
        finished_run(champion, model_v1, snapshot),
        finished_run(challenger, model_v1, snapshot),
        finished_run(champion, model_v1, snapshot, mode="strict"),
    ]
    return snapshot, runs


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_login(client: Client, db: None) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_users_without_the_view_permission_are_refused(analyst: User) -> None:
    assert logged_in(analyst).get(URL).status_code == 403
    assert logged_in(analyst).get(f"{URL}export.csv").status_code == 403


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("metric=speed", "metric must be one of"),
        ("template=nope", "no template named"),
        ("snapshot=abc", "no snapshot"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(
    auditor: User, query: str, message: str
) -> None:
    response = logged_in(auditor).get(f"{URL}?{query}")
    assert response.status_code == 400 and message in response.content.decode()


def test_dashboard_renders_trend_and_segment_charts(
    auditor: User, labelled_runs: tuple[GoldenSetSnapshot, list[EvaluationRun]]
) -> None:
    page = logged_in(auditor).get(URL, {"template": "concerts"}).content.decode()
    assert page.count('<circle class="point"') == 3
    assert "[production]" in page and "[challenger]" in page
    # Bars: overall + 3 segments, for production and challenger.
    assert page.count('<rect class="bar"') == 8


def test_exports_carry_the_same_numbers_as_the_runs(
    auditor: User, labelled_runs: tuple[GoldenSetSnapshot, list[EvaluationRun]]
) -> None:
    snapshot, runs = labelled_runs
    client = logged_in(auditor)
    records = client.get(f"{URL}export.json", {"snapshot": snapshot.pk}).json()[
        "results"
    ]
    assert len(records) == 3 * 4  # three runs, overall + three segments each
    champion_overall = next(
        r for r in records if r["run"] == runs[0].pk and r["segment"] == "overall"
    )
    assert champion_overall["execution_accuracy"] == pytest.approx(4 / 6)
    assert champion_overall["labels"] == "production"
    assert (
        champion_overall["latency_p95_ms"]
        == runs[0].summary["overall"]["latency_p95_ms"]
    )
    response = client.get(f"{URL}export.csv", {"snapshot": snapshot.pk})
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 12
    medium = next(
        r
        for r in rows
        if r["run"] == str(runs[1].pk) and r["segment"] == "difficulty:medium"
    )
    assert float(medium["execution_accuracy"]) == pytest.approx(2 / 3)
    assert medium["labels"] == "challenger" and medium["n"] == "3"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_dashboard_charts_render_in_headless_chromium(
    browser: Any,
    live_server: Any,
    viewer: User,
    labelled_runs: tuple[GoldenSetSnapshot, list[EvaluationRun]],
) -> None:
    snapshot, runs = labelled_runs
    client = logged_in(viewer)
    context = browser.new_context()
    context.add_cookies(
        [
            {
                "name": "sessionid",
                "value": client.cookies["sessionid"].value,
                "url": live_server.url,
            }
        ]
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}{URL}?template=concerts&snapshot={snapshot.pk}")
        page.wait_for_selector("svg.line-chart circle.point")
        points = page.locator("svg.line-chart circle.point")
        assert points.count() == 3
        box = points.first.bounding_box()
        assert box is not None and box["width"] > 0  # laid out, not just in the DOM
        values = sorted(
            float(v)
            for v in points.evaluate_all(
                "els => els.map(e => e.getAttribute('data-value'))"
            )
        )
        assert values == pytest.approx(
            sorted(r.summary["overall"]["execution_accuracy"] for r in runs)
        )
        bars = page.locator("svg.bar-chart rect.bar")
        assert bars.count() == 8
        assert page.locator("#runs tbody tr").count() == 3
        # The segment filter redraws the trend from that segment's numbers.
        page.select_option("select[name=segment]", "difficulty:medium")
        page.click("button[type=submit]")
        page.wait_for_selector("svg.line-chart circle.point")
        medium = page.locator("svg.line-chart circle.point").evaluate_all(
            "els => els.map(e => e.getAttribute('data-value'))"
        )
        assert sorted(float(v) for v in medium) == pytest.approx([2 / 3, 1.0, 1.0])
        with page.expect_download() as download:
            page.click("#export-csv")
        assert download.value.suggested_filename == "evaluation-runs.csv"
    finally:
        context.close()
