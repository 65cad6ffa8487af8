"""Intervals and power in the promotion gates (issue #15 part 3) and readable
numbers on the review page (#14).

The golden set has a small segment (domain:music, 4 items) and a large one
(domain:sales, 40 items); run summaries are computed from per-item verdicts, so
gates, intervals and the exact test all read the same items.
"""

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from audit.models import AuditEvent
from evaluation.models import (
    EvaluationRun,
    GoldenExample,
    GoldenSetSnapshot,
    RegressionAlert,
    SnapshotItem,
)
from evaluation.runs.summaries import ItemOutcome, summarize
from governance import gates, numbers
from governance.approvals import approve_promotion
from governance.exceptions import GovernanceError
from governance.models import (
    Approval,
    DecisionLogEntry,
    GovernancePolicy,
    PromotionRequest,
)
from governance.promotions import request_promotion
from registry.models import Label, ModelVersion, PromptTemplate
from targets.models import TargetDatabase
from tests.governance.run_builders import make_run, new_prompt, prompt_author

pytestmark = pytest.mark.django_db

MUSIC, SALES = 4, 40


@pytest.fixture
def golden(target_db: TargetDatabase) -> GoldenSetSnapshot:
    snap = GoldenSetSnapshot.objects.create(
        name="power", content_hash="power".ljust(64, "0"), example_count=MUSIC + SALES
    )
    for i, domain in enumerate(["music"] * MUSIC + ["sales"] * SALES):
        example = GoldenExample.objects.create(
            target_database=target_db,
            question=f"{domain} question {i}",
            sql="SELECT 1",
            source=GoldenExample.Source.MANUAL,
            domain=domain,
        )
        SnapshotItem.objects.create(snapshot=snap, golden_example=example)
    return snap


def verdicts(music: list[bool], sales: list[bool]) -> list[bool]:
    assert (len(music), len(sales)) == (MUSIC, SALES)
    return music + sales


def scored_run(
    prompt_version: object,
    model_version: ModelVersion,
    snap: GoldenSetSnapshot,
    matches: list[bool],
) -> EvaluationRun:
    """A succeeded run whose summary is computed from its per-item verdicts."""
    items = snap.items.order_by("id").select_related("golden_example")
    outcomes = [
        ItemOutcome(
            exact_match=hit,
            executed=True,
            execution_match=hit,
            row_count_ok=hit,
            latency_ms=100.0,
            domain=item.golden_example.domain,
            difficulty=item.golden_example.difficulty,
        )
        for item, hit in zip(items, matches, strict=True)
    ]
    return make_run(
        prompt_version,  # type: ignore[arg-type]
        model_version,
        snap,
        summarize(outcomes),
        matches=matches,
    )


# Production: music 4/4, sales 20/40.
CHAMPION = verdicts([True] * 4, [True] * 20 + [False] * 20)
# One music item flips to wrong; one sales item is fixed, so "overall" and the
# difficulty segment (all 44 items) do not move.
ONE_MUSIC_FLIP = verdicts([True] * 3 + [False], [True] * 21 + [False] * 19)
# Five sales items break (12.5 points on 40 items), nothing is fixed: exact p =
# 2/32 = 0.0625, not significant, but the segment has 40 >= 30 items.
FIVE_SALES_BROKEN = verdicts([True] * 4, [True] * 15 + [False] * 25)


@pytest.fixture
def champion(production: Label, golden: GoldenSetSnapshot) -> EvaluationRun:
    return scored_run(
        production.prompt_version, production.model_version, golden, CHAMPION
    )


def ask_with(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    matches: list[bool],
    requester: User,
    tag: str = "v2",
) -> PromotionRequest:
    run = scored_run(
        new_prompt(template, prompt_author(), tag), model_v1, golden, matches
    )
    return request_promotion(
        template=template,
        prompt_version=run.prompt_version,
        model_version=model_v1,
        candidate_run=run,
        rationale="candidate",
        requested_by=requester,
    )


def segments_gate(request: PromotionRequest) -> dict[str, object]:
    return next(g for g in request.gates if g["name"] == "segments")


# --- numbers and the exact test on known values ----------------------------


def test_wilson_interval_of_the_evidence_matches_published_values() -> None:
    # Brown, Cai & DasGupta (2001), Wilson 95%: 5/10 -> [0.2366, 0.7634],
    # 0/10 -> [0, 0.2775].
    half = numbers.accuracy(0.5, 10)
    assert half["interval"] == pytest.approx([0.2366, 0.7634], abs=1e-4)
    assert numbers.accuracy(0.0, 10)["interval"] == pytest.approx(
        [0.0, 0.2775], abs=1e-4
    )
    assert numbers.accuracy(0.5, 0)["interval"] is None


def test_rates_read_as_percentages_intervals_and_points() -> None:
    assert numbers.percent(2 / 3) == "66.7%"
    assert numbers.points(0.75 - 1.0) == "-25.0 pts"
    assert numbers.points(0.0001) == "+0.0 pts"
    assert numbers.interval([0.2366, 0.7634]) == "95% CI [23.7%, 76.3%]"
    assert numbers.rate_with_interval(numbers.accuracy(0.5, 10)) == (
        "50.0% (95% CI [23.7%, 76.3%], n=10)"
    )


@pytest.mark.parametrize(
    ("n", "discordant", "p_value", "verdict"),
    [
        # One flip on four items: p = 1, underpowered.
        (4, (0, 1), 1.0, "underpowered"),
        # 0 fixed / 5 broken: 2 * 2**-5 = 0.0625, not significant.
        (20, (0, 5), 0.0625, "underpowered"),
        # 0 / 6: 2 * 2**-6 = 0.03125 < 0.05, significant on a small segment.
        (20, (0, 6), 0.03125, "block"),
        # 1 / 8: 2 * (1 + 9) / 512 = 0.0390625, significant.
        (20, (1, 8), 0.0390625, "block"),
        # 2 / 8: 2 * (1 + 10 + 45) / 1024 = 0.109375, not significant.
        (20, (2, 8), 0.109375, "underpowered"),
        # A large segment blocks even without significance.
        (30, (0, 1), 1.0, "block"),
    ],
)
def test_exact_test_on_discordant_items_decides_the_drop(
    n: int, discordant: tuple[int, int], p_value: float, verdict: str
) -> None:
    found = gates.assess_drop(n=n, discordant=discordant, min_segment_n=30)
    assert found["p_value"] == pytest.approx(p_value)
    assert found["verdict"] == verdict


def test_a_drop_without_per_item_verdicts_blocks() -> None:
    found = gates.assess_drop(n=4, discordant=None, min_segment_n=30)
    assert (found["verdict"], found["p_value"]) == ("block", None)


# --- gates -----------------------------------------------------------------


def test_one_flip_on_a_segment_of_four_is_underpowered_not_blocked(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    assert request.gates_passed, request.gates
    gate = segments_gate(request)
    assert gate["passed"] and gate["underpowered"] == ["domain:music"]
    (drop,) = gate["drops"]  # type: ignore[misc]
    assert (drop["segment"], drop["verdict"]) == ("domain:music", "underpowered")
    assert (drop["fixed"], drop["broken"], drop["p_value"]) == (0, 1, 1.0)
    assert drop["candidate"]["n"] == MUSIC
    # Wilson 95% of 3/4 and 4/4 travel with the rates.
    assert drop["candidate"]["interval"] == pytest.approx([0.3006, 0.9544], abs=1e-4)
    assert drop["champion"]["interval"][1] == 1.0
    assert "75.0% (95% CI [30.1%, 95.4%], n=4)" in gate["detail"]  # type: ignore[operator]
    assert "-25.0 pts" in gate["detail"]  # type: ignore[operator]
    assert "underpowered" in gate["detail"]  # type: ignore[operator]


def test_a_large_segment_drop_blocks_even_when_not_significant(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
) -> None:
    request = ask_with(template, model_v1, golden, FIVE_SALES_BROKEN, senior)
    gate = segments_gate(request)
    assert not gate["passed"] and not request.gates_passed
    verdicts_by_segment = {d["segment"]: d["verdict"] for d in gate["drops"]}  # type: ignore[attr-defined]
    assert verdicts_by_segment["domain:sales"] == "block"
    assert gate["underpowered"] == []
    assert "n >= 30" in gate["detail"]  # type: ignore[operator]
    with pytest.raises(GovernanceError, match="override"):
        approve_promotion(
            request=request, approver=ml_lead, acknowledge_underpowered=True
        )


def test_min_segment_n_from_the_policy_moves_the_line(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
) -> None:
    GovernancePolicy.objects.create(template=template, min_segment_n=100)
    request = ask_with(template, model_v1, golden, FIVE_SALES_BROKEN, senior)
    gate = segments_gate(request)
    # 40 items < 100 and p = 0.0625: underpowered on every 40-item segment.
    assert gate["passed"] and "domain:sales" in gate["underpowered"]  # type: ignore[operator]
    assert gate["min_segment_n"] == 100


def test_a_significant_drop_blocks_a_segment_under_min_segment_n(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
) -> None:
    GovernancePolicy.objects.create(template=template, min_segment_n=100)
    eight_broken = verdicts([True] * 4, [True] * 12 + [False] * 28)
    request = ask_with(template, model_v1, golden, eight_broken, senior)
    gate = segments_gate(request)
    sales = next(d for d in gate["drops"] if d["segment"] == "domain:sales")  # type: ignore[attr-defined]
    assert (sales["broken"], sales["p_value"]) == (8, pytest.approx(2 / 256))
    assert sales["verdict"] == "block" and not gate["passed"]
    assert "significant" in sales["detail"]


def test_primary_metric_gate_shows_intervals_and_the_overall_test(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    gate = next(g for g in request.gates if g["name"] == "primary_metric")
    assert gate["candidate"]["n"] == MUSIC + SALES
    assert gate["candidate"]["interval"] is not None
    assert (gate["fixed"], gate["broken"]) == (1, 1)
    assert "54.5% (95% CI [" in gate["detail"]
    assert not re.search(r"\d\.\d{4}", gate["detail"])


# --- acknowledgement at approval ------------------------------------------


def test_approval_with_an_underpowered_drop_needs_the_acknowledgement(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    with pytest.raises(GovernanceError) as refused:
        approve_promotion(request=request, approver=ml_lead)
    assert refused.value.field == "acknowledge_underpowered"
    assert not Approval.objects.filter(request=request).exists()
    approve_promotion(request=request, approver=ml_lead, acknowledge_underpowered=True)
    request.refresh_from_db()
    assert request.status == "promoted"
    assert request.override_reason == ""


def test_the_decision_log_and_audit_record_the_acknowledgement(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    approve_promotion(request=request, approver=ml_lead, acknowledge_underpowered=True)
    approval = Approval.objects.get(request=request)
    assert approval.acknowledged_underpowered == ["domain:music"]
    outcome = DecisionLogEntry.objects.get(amends=request.decision)
    assert outcome.approvers == [
        {
            "username": ml_lead.username,
            "role": "ml_lead",
            "acknowledged_underpowered": ["domain:music"],
        }
    ]
    summary = outcome.evaluation_summary
    assert summary["underpowered_acknowledged"] == ["domain:music"]
    rows = {row["segment"]: row for row in summary["segments"]}
    assert rows["domain:music"]["candidate_interval"] == pytest.approx(
        [0.3006, 0.9544], abs=1e-4
    )
    event = AuditEvent.objects.get(event_type="governance.promotion_request.approved")
    assert event.data["acknowledged_underpowered"] == ["domain:music"]
    note = request.release_note.markdown
    assert "(ml_lead, acknowledged underpowered drops on domain:music)" in note
    assert "| domain:music | 100.0% (95% CI [51.0%, 100.0%]) | 75.0% (95% CI " in note
    assert "| -25.0 pts | 4 |" in note


def test_no_acknowledgement_is_recorded_without_underpowered_drops(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
) -> None:
    better = verdicts([True] * 4, [True] * 22 + [False] * 18)
    request = ask_with(template, model_v1, golden, better, senior)
    approve_promotion(request=request, approver=ml_lead, acknowledge_underpowered=True)
    assert Approval.objects.get(request=request).acknowledged_underpowered is None
    outcome = DecisionLogEntry.objects.get(amends=request.decision)
    assert outcome.approvers == [{"username": ml_lead.username, "role": "ml_lead"}]


def test_tier1_with_an_underpowered_drop_waits_for_an_ml_lead(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
) -> None:
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    assert request.gates_passed and request.status == "pending"
    approve_promotion(request=request, approver=ml_lead, acknowledge_underpowered=True)
    request.refresh_from_db()
    assert request.status == "promoted"


def test_tier1_underpowered_request_mails_ml_leads_what_to_acknowledge(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Callable[..., object],
) -> None:
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    make_user("m1", "ml_lead", email="m1@example.com")
    make_user("s1", "ai_safety", email="s1@example.com")
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    (message,) = mail.outbox
    assert message.bcc == ["m1@example.com"]
    assert "Underpowered segment drops to acknowledge: domain:music" in message.body


def test_api_refuses_approval_without_acknowledgement_naming_the_field(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
    client_as: Callable[[User], object],
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    client = client_as(ml_lead)
    url = f"/api/v1/governance/promotions/{request.pk}/approve/"
    shown = client.get(f"/api/v1/governance/promotions/{request.pk}/")  # type: ignore[attr-defined]
    assert shown.json()["underpowered"] == ["domain:music"]
    music = next(
        row
        for row in shown.json()["comparison"]["segments"]
        if row["segment"] == "domain:music"
    )
    assert music["candidate_interval"] == pytest.approx([0.3006, 0.9544], abs=1e-4)
    refused = client.post(url, {"comment": "ok"}, format="json")  # type: ignore[attr-defined]
    assert refused.status_code == 400
    assert "acknowledge_underpowered" in refused.json()
    done = client.post(  # type: ignore[attr-defined]
        url, {"comment": "ok", "acknowledge_underpowered": True}, format="json"
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "promoted"
    (approval,) = done.json()["approvals"]
    assert approval["acknowledged_underpowered"] == ["domain:music"]


# --- the review page ---------------------------------------------------------


@pytest.fixture
def login(client: Client) -> Callable[[User], Client]:
    def as_user(user: User) -> Client:
        client.force_login(user)
        return client

    return as_user


def test_review_page_shows_percentages_intervals_points_and_links(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
    login: Callable[[User], Client],
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    RegressionAlert.objects.create(
        run=request.candidate_run,
        champion_run=champion,
        segment="domain:music",
        champion_value=1.0,
        challenger_value=0.75,
        drop_points=25.0,
        threshold_points=2.0,
        champion_n=MUSIC,
        challenger_n=MUSIC,
    )
    page = login(ml_lead).get(
        f"/admin/governance/promotionrequest/{request.pk}/review/"
    )
    html = page.content.decode()
    assert page.status_code == 200
    segments = html.split('id="segments"')[1].split("</table>")[0]
    assert "75.0%" in segments and "100.0%" in segments
    assert "95% CI [30.1%, 95.4%]" in segments
    assert "-25.0 pts" in segments
    # No raw floats anywhere on the page (e.g. 0.6666666666666666 or 0.75).
    assert not re.search(r"(?<![\d.])0\.\d{2,}", html), re.findall(
        r"(?<![\d.])0\.\d{2,}", html
    )
    alerts = html.split('id="alerts"')[1].split("</ul>")[0]
    assert "100.0% <small>95% CI [51.0%, 100.0%]</small>" in alerts
    assert "75.0% <small>95% CI [30.1%, 95.4%]</small> (-25.0 pts, n=4)" in alerts
    assert 'id="underpowered"' in html
    assert 'name="acknowledge_underpowered"' in html
    assert (
        f"/api/v1/registry/prompt-versions/{request.prompt_version_id}/diff/"
        f"?against={champion.prompt_version_id}"
    ) in html
    assert (
        f"/api/v1/evaluation/comparisons/?champion={champion.pk}"
        f"&amp;challenger={request.candidate_run_id}"
    ) in html
    assert f"/api/v1/governance/decisions/{request.decision.sequence}/" in html
    # The compare page, champion as A and the candidate as B.
    assert (
        f'id="comparison-page-link" href="/evaluation/compare/?a={champion.pk}'
        f'&amp;b={request.candidate_run_id}"'
    ) in html


def test_review_page_approval_needs_the_checkbox_then_logs_it(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
    login: Callable[[User], Client],
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    client = login(ml_lead)
    url = f"/admin/governance/promotionrequest/{request.pk}/review/"
    form = {"action": "approve", "comment": "ok", "content_hash": request.content_hash}
    refused = client.post(url, form, follow=True)
    assert "acknowledgement" in refused.content.decode()
    request.refresh_from_db()
    assert request.status == "pending"
    client.post(url, {**form, "acknowledge_underpowered": "1"})
    request.refresh_from_db()
    assert request.status == "promoted"
    page = client.get(url).content.decode()
    outcome = DecisionLogEntry.objects.get(amends=request.decision)
    assert f"/api/v1/governance/decisions/{outcome.sequence}/" in page
    assert 'href="#release-notes"' in page


def test_bulk_approval_passes_the_acknowledgement(
    template: PromptTemplate,
    model_v1: ModelVersion,
    golden: GoldenSetSnapshot,
    champion: EvaluationRun,
    senior: User,
    ml_lead: User,
    login: Callable[[User], Client],
) -> None:
    request = ask_with(template, model_v1, golden, ONE_MUSIC_FLIP, senior)
    client = login(ml_lead)
    url = "/admin/governance/promotionrequest/"
    form = {"action": "approve_selected", "_selected_action": [request.pk]}
    client.post(url, {**form, "comment": "ok"})
    request.refresh_from_db()
    assert request.status == "pending"
    client.post(url, {**form, "comment": "ok", "acknowledge_underpowered": "1"})
    request.refresh_from_db()
    assert request.status == "promoted"
