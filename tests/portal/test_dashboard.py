"""The stakeholder dashboard: selectors on real data, SVG, views and exports."""

import csv
import datetime as dt
import io
import re
import statistics
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from evaluation.models import GoldenSetSnapshot
from evaluation.statistics import wilson_interval
from feedback import guidelines
from feedback.models import ReviewItem
from feedback.services import approve_review_item, claim_review_item
from governance.models import GovernancePolicy
from portal.charts import PALETTE, Marker, Point, Series, colours_for, line_chart
from portal.dashboard import (
    OTHER_PAIRS,
    Filters,
    accuracy_by_label,
    compare_pair,
    finished_runs,
    guideline_marks,
    promotion_marks,
)
from portal.labels import label_timeline
from portal.production import (
    Period,
    corrections_per_week,
    interactions_per_day,
    negative_rate_windows,
    online_by_label,
    week_of,
)
from registry.models import Label
from registry.selectors import resolve_pair
from registry.services import move_label
from tests.portal.dashboard_data import (
    History,
    build_history,
    days_ago,
    ingest,
    interaction,
)

pytestmark = pytest.mark.django_db
URL = "/evaluation/dashboard/"


@pytest.fixture
def history(
    production: Label, snapshot: GoldenSetSnapshot, ml_lead: User, senior: User
) -> History:
    return build_history(
        production=production, snapshot=snapshot, ml_lead=ml_lead, requester=senior
    )


def scope(history: History, metric: str = "execution_accuracy") -> Filters:
    return Filters(history.template, None, metric, "overall", "", "", 28)


def test_label_history_maps_a_pair_to_the_label_of_its_time(history: History) -> None:
    timeline = label_timeline(template=history.template)
    v1, v2 = (history.v1.pk, history.model.pk), (history.v2.pk, history.model.pk)
    assert timeline.labels_of(v1, days_ago(30)) == ["production"]
    assert timeline.labels_of(v1, days_ago(3)) == []  # moved off by the promotion
    assert timeline.labels_of(v2, days_ago(7)) == []  # a candidate then
    assert timeline.labels_of(v2, days_ago(3)) == ["production"]
    v3 = (history.v3.pk, history.model.pk)
    assert timeline.labels_of(v3, days_ago(30)) == []
    assert timeline.labels_of(v3, days_ago(10)) == ["challenger"]


def test_a_pair_two_labels_share_is_split_like_the_router(
    production: Label, ml_lead: User
) -> None:
    # A routed label at production's pair (as a holdout frozen at the baseline).
    move_label(
        template=production.template,
        name=Label.Name.CHALLENGER,
        prompt_version=production.prompt_version,
        model_version=production.model_version,
        traffic_share=Decimal("0.4"),
        reason="same pair, separate share",
        acting_user=ml_lead,
    )
    timeline = label_timeline(template=production.template)
    pair = (production.prompt_version_id, production.model_version_id)
    served = {"production": 0, "challenger": 0}
    for i in range(200):
        session = f"session-{i}"
        live = resolve_pair(template=production.template, session_id=session)
        mapped = timeline.served_by(pair, dt.datetime.now(tz=dt.UTC), session)
        assert mapped == live.label.name, session
        served[live.label.name] += 1
    assert served["challenger"] > 40 and served["production"] > 80


def test_accuracy_lines_group_runs_by_the_label_then_with_wilson_bounds(
    history: History,
) -> None:
    filters = scope(history)
    accuracy = accuracy_by_label(list(finished_runs(filters)), filters)
    assert list(accuracy.lines) == ["production", OTHER_PAIRS]
    production = accuracy.lines["production"]
    assert [p.run for p in production] == [*history.runs_v1, history.after]
    assert [p.run for p in accuracy.lines[OTHER_PAIRS]] == [history.candidate]
    first = production[0]
    assert first.value == pytest.approx(0.60) and first.n == 40
    assert (first.low, first.high) == wilson_interval(24, 40)
    assert first.low is not None and first.low < 0.60 < first.high  # type: ignore[operator]
    em = accuracy_by_label(
        list(finished_runs(scope(history, "exact_match"))),
        scope(history, "exact_match"),
    )
    assert em.lines["production"][0].value == pytest.approx(0.30)


def test_promotion_marks_carry_the_promotion_and_its_date(history: History) -> None:
    marks = promotion_marks(history.template, days_ago(40), days_ago(0))
    assert [(m.pk, m.at, m.label_name) for m in marks] == [
        (history.promotion.pk, history.promoted_at, "production")
    ]
    assert promotion_marks(history.template, days_ago(5), days_ago(0)) == []


def test_guideline_changes_are_marked_inside_the_span_only(ml_lead: User) -> None:
    version = guidelines.publish_guideline_version(text="v1", author=ml_lead)
    moment = version.effective_at
    found = guideline_marks(moment - dt.timedelta(days=1), moment + dt.timedelta(1))
    assert found == [(moment, "guidelines v1")]
    assert guideline_marks(moment + dt.timedelta(1), moment + dt.timedelta(2)) == []


def test_compare_pair_is_the_latest_two_runs_on_one_snapshot(history: History) -> None:
    runs = list(finished_runs(scope(history)))
    assert compare_pair(runs) == (history.candidate, history.after)
    assert compare_pair(runs[:1]) is None


@pytest.fixture
def traffic(history: History, analyst: User) -> History:
    """Known traffic: day -10 v1 (production then), day -5 and -3 v2
    (production) and v3 (challenger), with negatives, a comment and a
    correction."""
    GovernancePolicy.objects.create(
        template=history.template, feedback_min_interactions=1
    )
    v1, v2, v3 = (
        (history.v1, history.model),
        (history.v2, history.model),
        (history.v3, history.model),
    )
    events = []
    ten, five, three = days_ago(10), days_ago(5), days_ago(3)
    events += interaction(v1, ten, session="a", tenant="globex", task_type="report")
    events += interaction(v1, ten, session="b", tenant="globex", latency_ms=900)
    events += interaction(v1, ten, session="c", outcome="sql_error", latency_ms=1200)
    events += interaction(v2, five, session="d", feedback="thumbs_down")
    events += interaction(v2, five, session="e")
    events += interaction(v2, three, session="f", feedback="thumbs_down")
    events += interaction(v2, three, session="g", feedback="correction")
    events += interaction(v2, three, session="h", feedback="comment")
    events += interaction(v2, three, session="i", feedback="thumbs_up")
    events += interaction(v3, three, session="j", feedback="thumbs_down")
    events += interaction(v3, three, session="k", outcome="timeout")
    ingest(events, analyst)
    return history


def test_interactions_per_day_count_every_day_and_follow_filters(
    traffic: History,
) -> None:
    period = Period.last(14)
    days = dict(interactions_per_day(template=traffic.template, period=period))
    assert len(days) == 14 and sum(days.values()) == 11
    by_day = {at.date(): n for at, n in days.items() if n}
    assert by_day == {
        days_ago(10).date(): 3,
        days_ago(5).date(): 2,
        days_ago(3).date(): 6,
    }
    globex = interactions_per_day(
        template=traffic.template, period=period, tenant="globex"
    )
    assert sum(n for _, n in globex) == 2
    report = interactions_per_day(
        template=traffic.template, period=period, task_type="report"
    )
    assert sum(n for _, n in report) == 1


def test_negative_rate_uses_the_trigger_definition_and_threshold(
    traffic: History,
) -> None:
    windows = negative_rate_windows(template=traffic.template, period=Period.last(14))
    with_traffic = [w for w in windows if w.total]
    # Thumbs down and corrections count; a comment and a thumbs up do not.
    assert sum(w.total for w in with_traffic) == 11
    assert sum(w.negative for w in with_traffic) == 4
    rates = {w.start.date(): w.rate for w in with_traffic}
    assert rates[days_ago(3).date()] == pytest.approx(3 / 6)
    assert rates[days_ago(5).date()] == pytest.approx(1 / 2)
    # The last window's threshold: mean + 2 sd of the usable history windows.
    history = [0.0, 1 / 2, 3 / 6]
    expected = statistics.fmean(history) + 2 * statistics.stdev(history)
    assert windows[-1].threshold == pytest.approx(expected)
    assert windows[0].threshold is None  # no history that far back


def test_corrections_submitted_and_approved_per_week(
    traffic: History, senior2: User
) -> None:
    item = ReviewItem.objects.get(kind=ReviewItem.Kind.CORRECTION)
    claim_review_item(item=item, acting_user=senior2)
    approve_review_item(item=item, acting_user=senior2)
    weeks = {
        w: (s, a)
        for w, s, a in corrections_per_week(
            template=traffic.template, period=Period.last(14)
        )
    }
    assert sum(s for s, _ in weeks.values()) == 1
    assert weeks[week_of(days_ago(3))][0] == 1
    assert weeks[week_of(days_ago(0))][1] == 1
    other_tenant = corrections_per_week(
        template=traffic.template, period=Period.last(14), tenant="globex"
    )
    assert all(s == a == 0 for _, s, a in other_tenant)


def test_online_metrics_per_served_label(traffic: History) -> None:
    online = online_by_label(template=traffic.template, period=Period.last(14))
    assert list(online) == ["production", "challenger"]
    production = online["production"]
    # Production's traffic by day ago: (interactions, negatives, successes). Day
    # -10 and day -5 share a Monday-to-Sunday week on some weekdays, so the
    # expected weeks are summed from the days, not assumed apart.
    days = {10: (3, 0, 2), 5: (2, 1, 2), 3: (4, 2, 4)}
    expected: dict[dt.datetime, list[int]] = {}
    for day, counts in days.items():
        week = expected.setdefault(week_of(days_ago(day)), [0, 0, 0])
        week[:] = [a + b for a, b in zip(week, counts, strict=True)]
    seen = {
        at: [w.interactions, w.negatives, w.successes]
        for at, w in production.items()
        if w.interactions
    }
    assert seen == expected
    old = production[week_of(days_ago(10))]
    assert old.success_rate == pytest.approx(old.successes / old.interactions)
    assert old.latency_p95_ms == 1200
    challenger = online["challenger"]
    assert sum(w.interactions for w in challenger.values()) == 2
    assert sum(w.negatives for w in challenger.values()) == 1
    assert sum(w.successes for w in challenger.values()) == 1


def test_line_chart_one_path_per_series_distinct_colours_full_legend() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    long_name = "a label with a very long name that old legends cut at forty chars"
    names = ["production", "challenger", "holdout", "rollout", long_name, "x<y>"]
    series = [
        Series(
            name,
            [
                Point(t0, 0.5, "p", band=(0.4, 0.6)),
                Point(t0 + dt.timedelta(3), 0.7, "q"),
            ],
        )
        for name in names
    ]
    svg = line_chart(
        series,
        title="t",
        y_label="EX",
        markers=[Marker(t0 + dt.timedelta(1), "promotion #4", "promotion", "/p/4/")],
    )
    assert svg.count('<path class="series"') == len(names)
    strokes = re.findall(r'<path class="series"[^>]*stroke="([^"]+)"', svg)
    assert len(set(strokes)) == len(names)
    legend = re.findall(r'<text class="legend"[^>]*>([^<]*)</text>', svg)
    assert legend == [*names[:-1], "x&lt;y&gt;"]
    assert 'href="/p/4/"' in svg and svg.count('class="band"') == len(names)
    assert "x<y>" not in svg


def test_colours_never_repeat_even_past_the_palette() -> None:
    names = ["production"] + [f"series {i}" for i in range(len(PALETTE) + 5)]
    colours = colours_for(names)
    assert len(set(colours)) == len(names)
    assert colours[0] == "#0072B2"


def test_anonymous_visitors_are_sent_to_login(client: Client, db: None) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=")


def test_users_without_the_view_permission_are_refused(analyst: User) -> None:
    client = Client()
    client.force_login(analyst)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}export.json").status_code == 403


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("metric=speed", "metric"),
        ("template=nope", "template"),
        ("snapshot=abc", "snapshot"),
        ("days=0", "days"),
        ("days=9999", "days"),
        ("days=-3", "days"),
        ("tenant=" + "x" * 200, "tenant"),
    ],
)
def test_bad_filters_are_a_400_naming_the_field(
    auditor: User, query: str, field: str
) -> None:
    client = Client()
    client.force_login(auditor)
    for url in (URL, f"{URL}export.csv"):
        response = client.get(f"{url}?{query}")
        assert response.status_code == 400
        assert response.json()["field"] == field


def test_every_role_that_had_the_dashboard_keeps_it(
    make_user: Callable[..., User],
) -> None:
    for role in ("ml_lead", "ai_safety", "product", "auditor"):
        client = Client()
        client.force_login(make_user(f"u-{role}", role))
        assert client.get(URL).status_code == 200, role


def test_empty_dashboard_says_why(auditor: User, template: object) -> None:
    client = Client()
    client.force_login(auditor)
    page = client.get(URL).content.decode()
    assert "No finished evaluation run of concerts" in page
    assert "No interaction was recorded in the last 84 days." in page


def test_dashboard_shows_every_panel_with_runs_and_traffic(
    auditor: User, traffic: History
) -> None:
    client = Client()
    client.force_login(auditor)
    page = client.get(URL, {"template": "concerts", "days": "28"}).content.decode()
    for chart in (
        "accuracy-chart",
        "interactions-chart",
        "negative-chart",
        "corrections-chart",
        "online-negative-rate-chart",
        "online-success-rate-chart",
        "online-latency-p95-ms-chart",
    ):
        assert f'id="{chart}"' in page, chart
    review = f"/admin/governance/promotionrequest/{traffic.promotion.pk}/review/"
    assert f'href="{review}"' in page
    run_link = f"/admin/evaluation/evaluationrun/{traffic.after.pk}/change/"
    assert f'href="{run_link}"' in page
    assert 'data-series="trigger threshold"' in page
    # "Compare the latest two runs" opens the comparison of those two runs.
    compare = f"/evaluation/compare/?a={traffic.candidate.pk}&amp;b={traffic.after.pk}"
    assert f'href="{compare}"' in page
    compared = client.get(compare.replace("&amp;", "&"))
    assert compared.status_code == 200
    assert str(traffic.candidate.pk) in compared.content.decode()


def test_exports_carry_runs_with_intervals_and_the_production_series(
    auditor: User, traffic: History
) -> None:
    client = Client()
    client.force_login(auditor)
    query = {"template": "concerts", "days": "14"}
    body = client.get(f"{URL}export.json", query).json()
    first = next(
        r
        for r in body["results"]
        if r["run"] == traffic.runs_v1[0].pk and r["segment"] == "overall"
    )
    assert first["labels"] == "production" and first["n"] == 40
    assert (first["ci_low"], first["ci_high"]) == pytest.approx(wilson_interval(24, 40))
    series = {r["series"] for r in body["production"]}
    assert series == {
        "interactions_per_day",
        "negative_rate",
        "corrections_submitted",
        "corrections_approved",
        "online_negative_rate",
        "online_success_rate",
        "online_latency_p95_ms",
    }
    online = [r for r in body["production"] if r["series"] == "online_negative_rate"]
    assert {r["label"] for r in online} == {"production", "challenger"}
    assert sum(r["n"] for r in online) == 11
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"{URL}export.csv", query).content.decode())
        )
    )
    assert {r["section"] for r in rows} == {"run", "production"}
    assert (
        sum(int(r["value"]) for r in rows if r["series"] == "interactions_per_day")
        == 11
    )
