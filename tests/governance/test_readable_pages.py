"""The cycle and decision admin pages read as tables with linked records; the
stored JSON stays one click away inside a collapsed <details>."""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from evaluation.models import GoldenSetSnapshot
from governance.approvals import approve_promotion
from governance.cycle.models import RetrainingCycle
from governance.models import DecisionLogEntry, ReleaseNote
from registry.models import Label
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import (
    PAIRS,
    correct_paraphrases,
    cycle,
    golden_snapshot,
)

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]
RAW_FLOAT = re.compile(r"\d\.\d{5,}")


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def goldens(target_db: TargetDatabase, production: Label) -> GoldenSetSnapshot:
    return golden_snapshot(target_db, [golden for golden, _ in PAIRS])


@pytest.fixture
def browser(auditor: User) -> Client:
    client = Client()
    client.force_login(auditor)
    return client


@pytest.fixture
def promoted(
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
    ml_lead: User,
    ml_lead2: User,
) -> RetrainingCycle:
    """A cycle that decided retrain, whose request was approved and deployed."""
    correct_paraphrases(production.template, client_user, senior)
    run = cycle(production.template, ml_lead).cycle
    assert run.promotion_request is not None
    approve_promotion(request=run.promotion_request, approver=ml_lead2, comment="ok")
    return run


def _visible(html: str) -> str:
    """The page without its collapsed raw JSON blocks."""
    return re.sub(r"<details class=\"raw-json\">.*?</details>", "", html, flags=re.S)


def _hrefs(html: str, table_class: str) -> list[str]:
    table = re.search(rf'<table class="{table_class}">(.*?)</table>', html, re.S)
    assert table is not None, table_class
    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', table[1])]


def test_cycle_page_shows_steps_manifest_and_segments_as_tables(
    browser: Client, promoted: RetrainingCycle
) -> None:
    url = reverse("admin:governance_retrainingcycle_change", args=[promoted.pk])
    html = browser.get(url).content.decode()
    visible = _visible(html)
    steps = re.search(r'<table class="cycle-steps">(.*?)</table>', visible, re.S)
    assert steps is not None
    for name in ("collect", "validate", "build", "evaluate", "decide"):
        assert f"<td>{name}</td>" in steps[1]
    manifest = re.search(
        r'<table class="manifest-summary">(.*?)</table>', visible, re.S
    )
    assert manifest is not None
    rows = promoted.dataset.manifest["counts"]["rows"]
    assert f"<td>{rows}</td>" in manifest[1]
    segments = re.search(r'<table class="segment-table">(.*?)</table>', visible, re.S)
    assert segments is not None
    overall = promoted.comparison["overall"]["execution_accuracy"]
    shown = f"{overall['challenger'] * 100:.1f}%"
    assert shown in segments[1] and "95% CI [" in segments[1]
    assert " pts</td>" in segments[1]
    for segment in promoted.comparison["segments"]:
        assert f"<td>{segment}</td>" in segments[1]
    assert not RAW_FLOAT.search(visible), RAW_FLOAT.search(visible)
    # The JSON is still there, but only inside collapsed <details>.
    assert html.count('<details class="raw-json">') >= 4
    assert '"execution_accuracy"' not in visible and "execution_accuracy" in html
    assert "<details open" not in html


def test_cycle_page_links_resolve(browser: Client, promoted: RetrainingCycle) -> None:
    url = reverse("admin:governance_retrainingcycle_change", args=[promoted.pk])
    hrefs = _hrefs(browser.get(url).content.decode(), "record-links")
    request = promoted.promotion_request
    note = ReleaseNote.objects.get(request=request)
    expected = [
        reverse(
            "admin:governance_decisionlogentry_change", args=[promoted.decision_id]
        ),
        reverse("admin:governance_promotionrequest_review", args=[request.pk]),
        reverse("admin:governance_releasenote_change", args=[note.pk]),
        reverse("admin:governance_datasetsnapshot_change", args=[promoted.dataset_id]),
    ]
    for link in expected:
        assert link in hrefs
    assert any("comparisons/?champion=" in h for h in hrefs)
    assert any("diff" in h for h in hrefs)
    outcome = DecisionLogEntry.objects.get(amends=promoted.decision)
    assert (
        reverse("admin:governance_decisionlogentry_change", args=[outcome.pk]) in hrefs
    )
    for href in hrefs:
        assert browser.get(href).status_code == 200, href


def test_decision_page_shows_summary_segments_and_links(
    browser: Client, promoted: RetrainingCycle
) -> None:
    entry = promoted.decision
    url = reverse("admin:governance_decisionlogentry_change", args=[entry.pk])
    html = browser.get(url).content.decode()
    visible = _visible(html)
    facts = re.search(r'<table class="record-facts">(.*?)</table>', visible, re.S)
    assert facts is not None
    assert f"<td>#{entry.sequence}</td>" in facts[1] and "<td>retrain</td>" in facts[1]
    segments = re.search(r'<table class="segment-table">(.*?)</table>', visible, re.S)
    assert segments is not None
    overall = entry.evaluation_summary["overall"]
    delta = (overall["challenger"] - overall["champion"]) * 100
    assert f"<td>{delta:+.1f} pts</td>" in segments[1]
    n = promoted.challenger_run.summary["overall"]["n"]
    overall_row = re.search(r"<td>overall</td>(.*?)</tr>", segments[1], re.S)
    assert overall_row is not None and overall_row[1].endswith(f"<td>{n}</td>")
    assert "95% CI [" in overall_row[1]
    for segment, block in entry.evaluation_summary["segments"].items():
        assert f"<td>{segment}</td>" in segments[1]
        assert f"{block['challenger'] * 100:.1f}%" in segments[1]
    assert "95% CI [" in segments[1]
    assert not RAW_FLOAT.search(visible), RAW_FLOAT.search(visible)
    assert "&quot;error_classes&quot;" in html
    assert "error_classes" not in visible
    hrefs = _hrefs(html, "record-links")
    request = promoted.promotion_request
    for link in (
        reverse("admin:governance_retrainingcycle_change", args=[promoted.pk]),
        reverse("admin:governance_promotionrequest_review", args=[request.pk]),
        reverse(
            "admin:governance_releasenote_change",
            args=[ReleaseNote.objects.get(request=request).pk],
        ),
        reverse("governance:decision-detail", args=[entry.sequence]),
    ):
        assert link in hrefs
    assert any("comparisons/?champion=" in h for h in hrefs)
    for href in hrefs:
        assert browser.get(href).status_code == 200, href


def test_outcome_page_links_back_to_its_decision(
    browser: Client, promoted: RetrainingCycle
) -> None:
    outcome = DecisionLogEntry.objects.get(amends=promoted.decision)
    url = reverse("admin:governance_decisionlogentry_change", args=[outcome.pk])
    html = browser.get(url).content.decode()
    hrefs = _hrefs(html, "record-links")
    assert (
        reverse("admin:governance_decisionlogentry_change", args=[promoted.decision_id])
        in hrefs
    )
    assert "<td>deployed</td>" in html
    # An outcome stores the review page's rows (a list): still a table.
    segments = re.search(r'<table class="segment-table">(.*?)</table>', html, re.S)
    assert segments is not None
    rows = outcome.evaluation_summary["segments"]
    assert isinstance(rows, list) and rows
    for row in rows:
        assert f"<td>{row['segment']}</td>" in segments[1]
        assert f"{row['candidate'] * 100:.1f}%" in segments[1]
    assert "95% CI [" in segments[1]
    assert not RAW_FLOAT.search(_visible(html)), RAW_FLOAT.search(_visible(html))


def test_cycle_without_comparison_renders(
    browser: Client,
    production: Label,
    goldens: GoldenSetSnapshot,
    client_user: User,
    senior: User,
) -> None:
    # Too few corrections: the cycle defers before building or evaluating.
    correct_paraphrases(production.template, client_user, senior, PAIRS[:2])
    run = cycle(production.template, None).cycle
    assert run.comparison == {} and run.decision.decision == "defer"
    url = reverse("admin:governance_retrainingcycle_change", args=[run.pk])
    response = browser.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert "No evaluation: nothing was compared." in html
    assert "<td>skipped</td>" in html
    entry_url = reverse(
        "admin:governance_decisionlogentry_change", args=[run.decision_id]
    )
    assert browser.get(entry_url).status_code == 200


def test_stored_text_is_escaped(browser: Client, promoted: RetrainingCycle) -> None:
    RetrainingCycle.objects.filter(pk=promoted.pk).update(
        error="<script>alert(1)</script>",
        options={"note": "<b>bold</b>"},
    )
    url = reverse("admin:governance_retrainingcycle_change", args=[promoted.pk])
    html = browser.get(url).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_step_counts_show_rates_deltas_and_hashes_readably(
    browser: Client, promoted: RetrainingCycle
) -> None:
    digest = "ab" * 32
    shadow = {
        "name": "shadow",
        "status": "ok",
        "started_at": "2026-01-02T03:04:05.678901+00:00",
        "finished_at": "2026-01-02T03:04:06.000001+00:00",
        "duration_ms": 1234,
        "numbers": {"negative_rate": -0.6, "champion_interactions": 10},
        "detail": "<i>shadow</i> detail",
    }
    collect = {**shadow, "name": "collect", "numbers": {"content_hash": digest}}
    RetrainingCycle.objects.filter(pk=promoted.pk).update(
        steps=[collect, {**shadow, "numbers": {**shadow["numbers"], "hit_rate": 0.5}}],
        online_comparison={"delta": {"negative_rate": -0.6}},
    )
    url = reverse("admin:governance_retrainingcycle_change", args=[promoted.pk])
    steps = re.search(
        r'<table class="cycle-steps">(.*?)</table>',
        _visible(browser.get(url).content.decode()),
        re.S,
    )
    assert steps is not None
    table = steps[1]
    # A delta of the online comparison in points, a plain rate as a percentage.
    assert "negative_rate: -60.0 pts" in table and "hit_rate: 50.0%" in table
    assert f"content_hash: {digest[:12]}…" in table and digest not in table
    assert "2026-01-02 03:04:05" in table and "1.2 s" in table
    assert "&lt;i&gt;shadow&lt;/i&gt; detail" in table


def test_cycle_list_links_each_decision(
    browser: Client, promoted: RetrainingCycle
) -> None:
    html = browser.get(reverse("admin:governance_retrainingcycle_changelist"))
    entry = promoted.decision
    url = reverse("admin:governance_decisionlogentry_change", args=[entry.pk])
    assert f'<a href="{url}">#{entry.sequence} retrain</a>' in html.content.decode()
