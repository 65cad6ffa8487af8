"""The holdout: a sticky 2% of sessions on a frozen baseline pair.

Promotions, rollbacks (request and fast path) and direct label moves never move
it; only an approved baseline change does, logged, with four-eyes. Its online
figures are compared with production's, and weekly reports open one decision
when the gap is significant.
"""

import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from evaluation.models import GoldenSetSnapshot
from evaluation.statistics import two_proportion_test, wilson_interval
from feedback.ingestion import ingest_events
from governance.approvals import approve_promotion
from governance.chain import verify_chain
from governance.exceptions import (
    GovernanceError,
    HoldoutExistsError,
    SelfApprovalError,
    StaleRequestError,
)
from governance.holdout import establish_holdout, request_baseline_change
from governance.holdout_drift import week_start
from governance.holdout_stats import compare_holdout, p95
from governance.models import DecisionLogEntry, HoldoutReport, PromotionRequest
from governance.promotions import request_promotion
from governance.rollbacks import request_rollback, rollback_label
from governance.triggers import check_triggers
from registry.exceptions import FrozenLabelError
from registry.models import Label, PromptTemplate, PromptVersion
from registry.routing import takes_session
from registry.selectors import route_session
from registry.services import move_label
from tests.governance.run_builders import make_run, new_prompt, prompt_author, summary

pytestmark = pytest.mark.django_db

Pair = tuple[int, int]


def pair_of(label: Label) -> Pair:
    label.refresh_from_db()
    return (label.prompt_version_id, label.model_version_id)


@pytest.fixture
def holdout(production: Label, ml_lead: User) -> Label:
    return establish_holdout(template=production.template, acting_user=ml_lead)


@pytest.fixture
def prompt_v2(template: PromptTemplate) -> PromptVersion:
    return new_prompt(template, prompt_author(), "v2")


def move_production(production: Label, prompt: PromptVersion, user: User) -> Label:
    return move_label(
        template=production.template,
        name=Label.Name.PRODUCTION,
        prompt_version=prompt,
        model_version=production.model_version,
        reason="test setup",
        acting_user=user,
    )


# --- establishing and routing -------------------------------------------------


def test_establishing_puts_the_holdout_on_production_with_the_policy_share(
    production: Label, holdout: Label, ml_lead: User
) -> None:
    assert pair_of(holdout) == pair_of(production)
    assert holdout.traffic_share == Decimal("0.0200")
    entry = DecisionLogEntry.objects.get(decision="rebaseline")
    assert entry.deployed_at is not None
    assert entry.evaluation_summary["holdout"] == {
        "from": None,
        "to": list(pair_of(production)),
        "share": "0.0200",
    }
    assert AuditEvent.objects.filter(event_type="governance.holdout.established")
    with pytest.raises(HoldoutExistsError):
        establish_holdout(template=production.template, acting_user=ml_lead)


def test_establishing_needs_a_production_pair(
    template: PromptTemplate, ml_lead: User
) -> None:
    with pytest.raises(GovernanceError, match="no production pair"):
        establish_holdout(template=template, acting_user=ml_lead)
    assert not Label.objects.filter(name=Label.Name.HOLDOUT).exists()


def test_the_policy_share_comes_from_settings(
    production: Label, settings: object
) -> None:
    settings.HOLDOUT_SHARE = 0.05  # type: ignore[attr-defined]
    label = establish_holdout(template=production.template, acting_user=None)
    assert label.traffic_share == Decimal("0.0500")


def test_about_two_percent_of_sessions_are_held_out_and_each_stays(
    holdout: Label,
) -> None:
    template = holdout.template
    labels = {label.name: label for label in Label.objects.filter(template=template)}
    sessions = [f"session-{i}" for i in range(20_000)]
    held = [
        s
        for s in sessions
        if route_session(template=template, labels=labels, session_id=s).label.name
        == Label.Name.HOLDOUT
    ]
    # 2% of 20,000 is 400; four binomial standard deviations is about 80.
    assert 320 <= len(held) <= 480
    for session in held[:50] + sessions[:50]:
        first = route_session(template=template, labels=labels, session_id=session)
        again = route_session(template=template, labels=labels, session_id=session)
        assert first.label.name == again.label.name


def test_holdout_sessions_never_see_the_rollout_challenger_or_shadow(
    holdout: Label, prompt_v2: PromptVersion, ml_lead: User
) -> None:
    template = holdout.template
    for name in ("rollout", "challenger", "shadow"):
        move_label(
            template=template,
            name=name,
            prompt_version=prompt_v2,
            model_version=holdout.model_version,
            reason="test",
            acting_user=ml_lead,
            traffic_share=Decimal("0.5"),
        )
    labels = {label.name: label for label in Label.objects.filter(template=template)}
    seen: dict[str, set[str]] = {"held": set(), "others": set()}
    for i in range(5_000):
        served = route_session(template=template, labels=labels, session_id=f"s{i}")
        held = takes_session(
            template_name=template.name,
            label_name="holdout",
            share=0.02,
            session_id=f"s{i}",
        )
        seen["held" if held else "others"].add(served.label.name)
        if held:
            assert served.shadow is None
    assert seen["held"] == {"holdout"}
    assert {"rollout", "challenger", "production"} <= seen["others"]


# --- frozen ---------------------------------------------------------------------


def test_a_direct_move_label_never_moves_the_holdout(
    holdout: Label, prompt_v2: PromptVersion, ml_lead: User
) -> None:
    before = pair_of(holdout)
    with pytest.raises(FrozenLabelError):
        move_label(
            template=holdout.template,
            name=Label.Name.HOLDOUT,
            prompt_version=prompt_v2,
            model_version=holdout.model_version,
            reason="sneaky",
            acting_user=ml_lead,
            traffic_share=Decimal("0.5"),
        )
    assert pair_of(holdout) == before
    holdout.refresh_from_db()
    assert holdout.traffic_share == Decimal("0.0200")


def test_move_label_cannot_create_a_holdout_either(
    production: Label, ml_lead: User
) -> None:
    with pytest.raises(FrozenLabelError):
        move_label(
            template=production.template,
            name=Label.Name.HOLDOUT,
            prompt_version=production.prompt_version,
            model_version=production.model_version,
            reason="shortcut",
            acting_user=ml_lead,
        )
    assert not Label.objects.filter(name=Label.Name.HOLDOUT).exists()


def promote_v2(
    holdout: Label,
    production: Label,
    snapshot: GoldenSetSnapshot,
    prompt_v2: PromptVersion,
    requester: User,
    approver: User,
) -> None:
    """Request and approve v2 (better than production) for production."""
    make_run(
        production.prompt_version,
        production.model_version,
        snapshot,
        summary(0.70),
        matches=[True, True, False, False],
    )
    candidate = make_run(
        prompt_v2,
        production.model_version,
        snapshot,
        summary(0.75),
        matches=[True, False, True, True],
    )
    request = request_promotion(
        template=holdout.template,
        prompt_version=prompt_v2,
        model_version=candidate.model_version,
        candidate_run=candidate,
        rationale="better",
        requested_by=requester,
    )
    approve_promotion(request=request, approver=approver)


def test_a_promotion_moves_production_but_never_the_holdout(
    holdout: Label,
    production: Label,
    snapshot: GoldenSetSnapshot,
    prompt_v2: PromptVersion,
    ml_lead: User,
    ml_lead2: User,
    immediate_rollout: object,
) -> None:
    before = pair_of(holdout)
    promote_v2(holdout, production, snapshot, prompt_v2, ml_lead, ml_lead2)
    assert pair_of(production)[0] == prompt_v2.pk
    assert pair_of(holdout) == before


def test_a_staged_promotion_rolls_out_without_touching_the_holdout(
    holdout: Label,
    production: Label,
    snapshot: GoldenSetSnapshot,
    prompt_v2: PromptVersion,
    ml_lead: User,
    ml_lead2: User,
) -> None:
    before = pair_of(holdout)
    promote_v2(holdout, production, snapshot, prompt_v2, ml_lead, ml_lead2)
    rollout = Label.objects.get(template=holdout.template, name=Label.Name.ROLLOUT)
    assert rollout.prompt_version_id == prompt_v2.pk
    assert pair_of(holdout) == before


def test_a_promotion_request_on_the_holdout_is_refused(
    holdout: Label, snapshot: GoldenSetSnapshot, prompt_v2: PromptVersion
) -> None:
    candidate = make_run(prompt_v2, holdout.model_version, snapshot, summary(0.9))
    with pytest.raises(GovernanceError) as refused:
        request_promotion(
            template=holdout.template,
            prompt_version=prompt_v2,
            model_version=holdout.model_version,
            candidate_run=candidate,
            rationale="re-base by promotion",
            requested_by=None,
            label_name=Label.Name.HOLDOUT,
        )
    assert refused.value.field == "label_name"
    assert not PromotionRequest.objects.exists()


def test_a_smuggled_promotion_of_the_holdout_lands_nothing(
    holdout: Label, prompt_v2: PromptVersion, ml_lead: User, ml_lead2: User
) -> None:
    """Even a request row that skipped the guards cannot move it: move_label
    refuses, and the whole promotion rolls back."""
    decision = DecisionLogEntry.objects.get(decision="rebaseline")
    request = PromotionRequest.objects.create(
        kind=PromotionRequest.Kind.PROMOTION,
        template=holdout.template,
        label_name=Label.Name.HOLDOUT,
        prompt_version=prompt_v2,
        model_version=holdout.model_version,
        candidate_run=None,
        decision=decision,
        tier=2,
        gates=[],
        gates_passed=True,
        rationale="smuggled",
        requested_by=ml_lead,
        content_hash="x" * 64,
    )
    before = pair_of(holdout)
    with pytest.raises(FrozenLabelError):
        approve_promotion(request=request, approver=ml_lead2)
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.PENDING
    assert pair_of(holdout) == before


def test_a_rollback_request_never_moves_the_holdout(
    holdout: Label,
    production: Label,
    prompt_v2: PromptVersion,
    ml_lead: User,
    ml_lead2: User,
) -> None:
    before = pair_of(holdout)
    move_production(production, prompt_v2, ml_lead)
    with pytest.raises(GovernanceError) as refused:
        request_rollback(
            template=holdout.template,
            reason="undo",
            requested_by=ml_lead,
            label_name=Label.Name.HOLDOUT,
        )
    assert refused.value.field == "label"
    request = request_rollback(
        template=holdout.template, reason="undo", requested_by=ml_lead
    )
    approve_promotion(request=request, approver=ml_lead2)
    assert pair_of(production) == before  # production went back to v1
    assert pair_of(holdout) == before
    assert holdout.history.count() == 1  # one history row: its creation


def test_the_fast_path_rollback_never_moves_the_holdout(
    holdout: Label, production: Label, prompt_v2: PromptVersion, ml_lead: User
) -> None:
    before = pair_of(holdout)
    move_production(production, prompt_v2, ml_lead)
    with pytest.raises(GovernanceError) as refused:
        rollback_label(
            template=holdout.template,
            reason="incident",
            acting_user=ml_lead,
            label_name=Label.Name.HOLDOUT,
        )
    assert refused.value.field == "label"
    rollback_label(template=holdout.template, reason="incident", acting_user=ml_lead)
    assert pair_of(production) == before
    assert pair_of(holdout) == before
    assert holdout.history.count() == 1


# --- the governed baseline change ---------------------------------------------


def test_a_baseline_change_moves_the_holdout_with_a_logged_decision_and_four_eyes(
    holdout: Label,
    production: Label,
    prompt_v2: PromptVersion,
    ml_lead: User,
    ml_lead2: User,
) -> None:
    old = pair_of(holdout)
    move_production(production, prompt_v2, ml_lead)
    new = pair_of(production)
    request = request_baseline_change(
        template=holdout.template,
        rationale="v2 is the new normal",
        requested_by=ml_lead2,
    )
    assert request.kind == PromotionRequest.Kind.BASELINE
    assert request.status == PromotionRequest.Status.PENDING
    assert pair_of(holdout) == old  # nothing moves before approval
    with pytest.raises(SelfApprovalError):
        approve_promotion(request=request, approver=ml_lead2)
    approve_promotion(request=request, approver=ml_lead)
    request.refresh_from_db()
    assert request.status == PromotionRequest.Status.PROMOTED
    assert pair_of(holdout) == new
    holdout.refresh_from_db()
    assert holdout.traffic_share == Decimal("0.0200")
    decision = request.decision
    assert decision.decision == DecisionLogEntry.Decision.REBASELINE
    assert decision.rationale.endswith("v2 is the new normal")
    assert decision.evaluation_summary["holdout"] == {
        "from": list(old),
        "to": list(new),
    }
    outcome = DecisionLogEntry.objects.get(amends=decision)
    assert outcome.outcome == DecisionLogEntry.Outcome.DEPLOYED
    assert outcome.approvers == [{"username": "lee", "role": "ml_lead"}]
    assert verify_chain().ok


def test_a_baseline_change_keeps_the_share_sessions_were_split_by(
    holdout: Label,
    production: Label,
    prompt_v2: PromptVersion,
    ml_lead: User,
    ml_lead2: User,
    settings: object,
) -> None:
    settings.HOLDOUT_SHARE = 0.1  # type: ignore[attr-defined]
    move_production(production, prompt_v2, ml_lead)
    request = request_baseline_change(
        template=holdout.template, rationale="re-base", requested_by=ml_lead2
    )
    approve_promotion(request=request, approver=ml_lead)
    holdout.refresh_from_db()
    assert holdout.prompt_version_id == prompt_v2.pk
    assert holdout.traffic_share == Decimal("0.0200")


def test_a_baseline_change_is_never_automatic_even_on_tier_one(
    holdout: Label, production: Label, prompt_v2: PromptVersion, ml_lead: User
) -> None:
    template = holdout.template
    template.risk_tier = 1
    template.save(update_fields=["risk_tier"])
    move_production(production, prompt_v2, ml_lead)
    request = request_baseline_change(
        template=template, rationale="re-base", requested_by=ml_lead
    )
    assert request.tier == 2
    assert request.status == PromotionRequest.Status.PENDING
    assert pair_of(holdout)[0] != prompt_v2.pk


def test_a_baseline_change_refuses_a_pair_production_never_served(
    holdout: Label, prompt_v2: PromptVersion, ml_lead: User
) -> None:
    with pytest.raises(GovernanceError) as refused:
        request_baseline_change(
            template=holdout.template,
            rationale="untested pair",
            requested_by=ml_lead,
            prompt_version=prompt_v2,
            model_version=holdout.model_version,
        )
    assert refused.value.field == "prompt_version"
    with pytest.raises(GovernanceError, match="already serves"):
        request_baseline_change(
            template=holdout.template, rationale="same", requested_by=ml_lead
        )
    with pytest.raises(GovernanceError) as empty:
        request_baseline_change(
            template=holdout.template, rationale="  ", requested_by=ml_lead
        )
    assert empty.value.field == "rationale"


def test_a_second_baseline_change_waits_for_the_first(
    holdout: Label, production: Label, prompt_v2: PromptVersion, ml_lead: User
) -> None:
    move_production(production, prompt_v2, ml_lead)
    request_baseline_change(
        template=holdout.template, rationale="a", requested_by=ml_lead
    )
    with pytest.raises(StaleRequestError, match="pending"):
        request_baseline_change(
            template=holdout.template, rationale="b", requested_by=ml_lead
        )


# --- online comparison ------------------------------------------------------------


def sessions_for(template: PromptTemplate, *, held: bool, count: int) -> list[str]:
    found: list[str] = []
    i = 0
    while len(found) < count:
        session = f"{'h' if held else 'p'}-{i}"
        i += 1
        if (
            takes_session(
                template_name=template.name,
                label_name="holdout",
                share=0.02,
                session_id=session,
            )
            == held
        ):
            found.append(session)
    return found


def traffic(
    label: Label,
    user: User,
    sessions: list[str],
    *,
    negatives: int,
    failures: int,
    latencies: list[int],
    when: datetime | None = None,
    metric: float | None = None,
) -> None:
    """One interaction per session; the first `negatives` get a thumbs-down, the
    last `failures` an SQL error; latencies cycle."""
    moment = (when or timezone.now() - timedelta(hours=1)).isoformat()
    events: list[dict[str, object]] = []
    for index, session in enumerate(sessions):
        event_id = str(uuid.uuid4())
        events.append(
            {
                "kind": "interaction",
                "event_id": event_id,
                "session_id": session,
                "user_id": f"u{index}",
                "tenant_id": "acme",
                "task_type": "adhoc",
                "question": f"question {session}",
                "prompt_version": label.prompt_version_id,
                "model_version": label.model_version_id,
                "outcome": "sql_error"
                if index >= len(sessions) - failures
                else "success",
                "server_latency_ms": latencies[index % len(latencies)],
                "consent_scope": "improvement",
                "occurred_at": moment,
            }
        )
        if index < negatives:
            events.append(
                {
                    "kind": "feedback",
                    "event_id": str(uuid.uuid4()),
                    "interaction_id": event_id,
                    "type": "thumbs_down",
                    "submitter_role": "analyst",
                    "occurred_at": moment,
                }
            )
        if metric is not None:
            events.append(
                {
                    "kind": "feedback",
                    "type": "outcome_metric",
                    "event_id": str(uuid.uuid4()),
                    "interaction_id": event_id,
                    "metric_name": "time_saved",
                    "value": metric,
                    "submitter_role": "analyst",
                    "occurred_at": moment,
                }
            )
    results = ingest_events(events=events, acting_user=user, channel="api")
    assert {r.status for r in results} == {"created"}


def test_the_comparison_tells_holdout_from_production_on_the_same_pair(
    holdout: Label, production: Label, analyst: User
) -> None:
    template = holdout.template
    traffic(
        holdout,
        analyst,
        sessions_for(template, held=True, count=20),
        negatives=2,
        failures=1,
        latencies=[100, 200, 300, 400],
        metric=2.0,
    )
    traffic(
        production,
        analyst,
        sessions_for(template, held=False, count=40),
        negatives=12,
        failures=8,
        latencies=[150] * 37 + [900, 950, 1000],
        metric=3.0,
    )
    result = compare_holdout(
        template=template, since=timezone.now() - timedelta(days=1)
    )
    assert result is not None
    left, right = result["holdout"], result["production"]
    assert (left["interactions"], left["sessions"]) == (20, 20)
    assert (right["interactions"], right["sessions"]) == (40, 40)
    assert (left["negative_rate"], right["negative_rate"]) == (0.1, 0.3)
    assert (left["success_rate"], right["success_rate"]) == (0.95, 0.8)
    assert left["negative_interval"] == [
        round(b, 6) for b in wilson_interval(2, 20) or ()
    ]
    assert right["success_interval"] == [
        round(b, 6) for b in wilson_interval(32, 40) or ()
    ]
    assert (left["latency_p95_ms"], right["latency_p95_ms"]) == (
        400.0,
        900.0,
    )  # rank 38 of 40
    assert result["delta"]["negative_rate"] == 0.2
    assert result["delta"]["success_rate"] == -0.15
    assert result["delta"]["latency_p95_ms"] == 500.0
    assert result["delta"]["metrics"] == {"time_saved": 1.0}
    z, p = two_proportion_test(2, 20, 12, 40) or (0.0, 0.0)
    assert result["tests"]["negative_rate"] == {
        "z": round(z, 4),
        "p_value": round(p, 6),
    }
    assert result["tests"]["negative_rate"]["p_value"] > 0.05  # 20 vs 40: not enough
    assert result["significant"] is False


def test_two_proportion_test_on_known_figures() -> None:
    z, p = two_proportion_test(10, 100, 20, 100) or (0.0, 0.0)
    assert round(z, 3) == 1.980 and round(p, 4) == 0.0477
    assert two_proportion_test(0, 10, 0, 12) is None
    assert two_proportion_test(3, 10, 0, 0) is None
    with pytest.raises(ValueError):
        two_proportion_test(11, 10, 0, 5)


def test_p95_is_the_nearest_rank() -> None:
    assert p95([]) is None
    assert p95(list(range(1, 101))) == 95.0
    assert p95([7]) == 7.0


def test_no_holdout_no_comparison(production: Label) -> None:
    assert compare_holdout(template=production.template, since=timezone.now()) is None


# --- weekly drift -------------------------------------------------------------------


def test_weekly_reports_record_drift_and_a_significant_gap_opens_one_decision(
    holdout: Label, production: Label, analyst: User
) -> None:
    template = holdout.template
    now = timezone.now()
    last_week = week_start(now) - timedelta(days=7)
    noon = datetime.combine(last_week + timedelta(days=2), time(12), tzinfo=UTC)
    # The holdout was established the week before last.
    holdout.history.update(history_date=noon - timedelta(days=5))
    traffic(
        holdout,
        analyst,
        sessions_for(template, held=True, count=60),
        negatives=3,
        failures=0,
        latencies=[100],
        when=noon,
    )
    traffic(
        production,
        analyst,
        sessions_for(template, held=False, count=120),
        negatives=60,
        failures=0,
        latencies=[100],
        when=noon,
    )
    fired = check_triggers(template=template, now=now)
    drift = [e for e in fired if e.kind == "holdout_drift"]
    assert len(drift) == 1
    report = HoldoutReport.objects.get(template=template, week_start=last_week)
    assert report.significant
    assert report.negative_rate_gap == pytest.approx(0.45)
    assert report.comparison["holdout"]["interactions"] == 60
    decision = DecisionLogEntry.objects.get(trigger=drift[0])
    assert decision.decision == DecisionLogEntry.Decision.INVESTIGATE
    # Checked again: no second decision, no second report for the week.
    again = check_triggers(template=template, now=now + timedelta(hours=1))
    assert not [e for e in again if e.kind == "holdout_drift"]
    assert HoldoutReport.objects.filter(template=template).count() == 2
    assert DecisionLogEntry.objects.filter(decision="investigate").count() == 1


# --- the command ------------------------------------------------------------------


def test_the_command_establishes_missing_holdouts_once(
    production: Label, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command("establish_holdouts")
    assert "1 holdout(s) established" in capsys.readouterr().out
    call_command("establish_holdouts")
    assert "0 holdout(s) established" in capsys.readouterr().out
    assert Label.objects.filter(name=Label.Name.HOLDOUT).count() == 1
