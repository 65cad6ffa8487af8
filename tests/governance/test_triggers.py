import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from feedback.categorization import recategorize_feedback
from feedback.ingestion import ingest_events
from feedback.models import Feedback
from governance import tasks
from governance.breaker import check_circuit_breaker
from governance.exceptions import GovernanceError
from governance.models import DecisionLogEntry, GovernancePolicy, TriggerEvent
from governance.triggers import (
    check_calendar,
    check_data_volume,
    check_feedback_spike,
    check_metric_degradation,
    check_triggers,
    detect_spike,
    raise_event_trigger,
)
from registry.models import Label, PromptTemplate
from targets.models import TargetDatabase
from tests.governance.run_builders import (
    make_run,
    make_snapshot,
    new_prompt,
    prompt_author,
    summary,
)

pytestmark = pytest.mark.django_db

FLAT = [0.10, 0.12, 0.11, 0.09, 0.10, 0.11, 0.10]


def test_spike_fires_when_latest_window_exceeds_mean_plus_two_sd() -> None:
    spike = detect_spike([*FLAT, 0.30])
    assert spike.fired
    assert spike.mean == pytest.approx(0.104285, abs=1e-5)
    assert spike.threshold == pytest.approx(spike.mean + 2 * spike.sd)


def test_spike_stays_quiet_within_two_sd_and_without_history() -> None:
    assert not detect_spike([*FLAT, 0.12]).fired
    assert not detect_spike([0.1, 0.9]).fired  # one history window: no spread
    assert not detect_spike([*FLAT, 0.125], sigma=3.0).fired


def test_metric_degradation_fires_below_baseline_and_once(
    production: Label,
    target_db: TargetDatabase,
    snapshot: GoldenSetSnapshot,
    template: PromptTemplate,
) -> None:
    pair = (production.prompt_version, production.model_version)
    make_run(*pair, snapshot, summary(0.80))  # baseline: first run of the pair
    now = timezone.now()
    assert check_metric_degradation(template, now) is None  # same run
    newer = make_snapshot(target_db, "golden-2", 3)
    make_run(*pair, newer, summary(0.79))
    assert check_metric_degradation(template, now) is None  # within 2 points
    worse = make_run(*pair, newer, summary(0.70))
    key, evidence = check_metric_degradation(template, now)
    assert key == f"run:{worse.pk}"
    assert evidence["drop"] == pytest.approx(0.10)
    fired = check_triggers(template=template)
    assert [e.kind for e in fired] == ["metric_degradation"]
    assert check_triggers(template=template) == []
    decision = DecisionLogEntry.objects.get(trigger=fired[0])
    assert decision.decision == "retrain"


def test_data_volume_fires_at_threshold_since_last_retraining(
    template: PromptTemplate, target_db: TargetDatabase
) -> None:
    GovernancePolicy.objects.create(template=template, data_volume_threshold=3)
    now = timezone.now()
    for i in range(2):
        GoldenExample.objects.create(
            target_database=target_db, question=f"q{i}", sql="SELECT 1", source="review"
        )
    assert check_data_volume(template, now) is None
    GoldenExample.objects.create(
        target_database=target_db, question="q3", sql="SELECT 1", source="review"
    )
    assert check_data_volume(template, now)[1]["new_examples"] == 3
    fired = check_triggers(template=template)
    assert "data_volume" in [e.kind for e in fired]
    # The retrain decision it opened resets the count.
    assert check_data_volume(template, timezone.now()) is None


def test_calendar_fires_weekly_and_can_be_turned_off(template: PromptTemplate) -> None:
    start = template.created_at
    assert check_calendar(template, start + timedelta(days=6)) is None
    assert check_calendar(template, start + timedelta(days=7)) is not None
    fired = check_triggers(template=template, now=start + timedelta(days=7))
    assert [e.kind for e in fired] == ["calendar"]
    assert check_triggers(template=template, now=start + timedelta(days=10)) == []
    assert [
        e.kind
        for e in check_triggers(template=template, now=start + timedelta(days=14))
    ] == ["calendar"]
    GovernancePolicy.objects.create(template=template, calendar_cadence_days=0)
    assert check_calendar(template, start + timedelta(days=60)) is None


def test_event_trigger_needs_a_reason_and_opens_the_chosen_decision(
    template: PromptTemplate, ml_lead: User
) -> None:
    with pytest.raises(GovernanceError):
        raise_event_trigger(template=template, reason="", acting_user=ml_lead)
    event = raise_event_trigger(
        template=template,
        reason="GDPR ruling",
        acting_user=ml_lead,
        category="regulation",
        decision="retrain",
    )
    decision = event.decisions.get()
    assert (decision.decision, decision.decided_by) == ("retrain", ml_lead)
    assert event.evidence == {"category": "regulation"}


def test_halted_breaker_defers_automatic_retraining(
    production: Label,
    snapshot: GoldenSetSnapshot,
    template: PromptTemplate,
    ml_lead: User,
) -> None:
    make_run(
        production.prompt_version, production.model_version, snapshot, summary(0.8)
    )
    crash = make_run(
        new_prompt(template, prompt_author(), "bad"),
        production.model_version,
        snapshot,
        summary(0.5),
    )
    check_circuit_breaker(template=template, candidate_run=crash)
    fired = check_triggers(
        template=template, now=template.created_at + timedelta(days=8)
    )
    decision = DecisionLogEntry.objects.get(trigger=fired[0])
    assert decision.decision == "defer"
    assert "circuit breaker" in decision.rationale


def test_task_and_command_run_the_check(template: PromptTemplate) -> None:
    tasks.check_triggers()  # the beat task, called synchronously
    assert TriggerEvent.objects.count() == 0
    out = StringIO()
    call_command("check_triggers", template="concerts", stdout=out)
    assert "0 trigger(s) fired." in out.getvalue()


MIDNIGHT = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def _traffic(
    production: Label,
    analyst: User,
    day: int,
    total: int,
    negative: str | None,
    topic: str | None = None,
) -> None:
    """`total` interactions at noon `day` days before MIDNIGHT; half of them get
    the `negative` signal."""
    moment = MIDNIGHT - timedelta(days=day) + timedelta(hours=12)
    events: list[dict[str, object]] = []
    for index in range(total):
        event_id = str(uuid.uuid4())
        events.append(
            {
                "kind": "interaction",
                "event_id": event_id,
                "user_id": f"u{index}",
                "tenant_id": "acme",
                "task_type": "adhoc",
                "question": f"question {day} {index}",
                "prompt_version": production.prompt_version_id,
                "model_version": production.model_version_id,
                "outcome": "success",
                "consent_scope": "improvement",
                "occurred_at": moment.isoformat(),
            }
        )
        if negative and index < total // 2:
            events.append(
                {
                    "kind": "feedback",
                    "event_id": str(uuid.uuid4()),
                    "interaction_id": event_id,
                    "type": negative,
                    "submitter_role": "analyst",
                    "occurred_at": moment.isoformat(),
                    **({"topic": topic} if topic else {}),
                }
            )
    results = ingest_events(events=events, acting_user=analyst, channel="api")
    assert {r.status for r in results} == {"created"}


@pytest.mark.parametrize("signal", ["thumbs_down", "retried", "abandoned"])
def test_a_spike_of_any_negative_signal_fires_from_stored_feedback(
    production: Label, analyst: User, signal: str
) -> None:
    GovernancePolicy.objects.create(
        template=production.template,
        feedback_history_windows=4,
        feedback_min_interactions=4,
    )
    for day in range(5, 1, -1):  # four quiet days: no negative feedback at all
        _traffic(production, analyst, day, 4, None)
    now = MIDNIGHT + timedelta(hours=1)  # the latest window is the day before
    assert check_feedback_spike(production.template, now) is None
    _traffic(production, analyst, 1, 6, signal)  # yesterday: half negative
    finding = check_feedback_spike(production.template, now)
    assert finding is not None
    _, evidence = finding
    assert evidence["latest"] == 0.5 and evidence["windows"][-1]["negative"] == 3


def test_feedback_outside_the_negative_set_never_fires(
    production: Label, analyst: User
) -> None:
    GovernancePolicy.objects.create(
        template=production.template,
        feedback_history_windows=4,
        feedback_min_interactions=4,
    )
    for day in range(5, 1, -1):
        _traffic(production, analyst, day, 4, None)
    _traffic(production, analyst, 1, 6, "thumbs_up")
    now = MIDNIGHT + timedelta(hours=1)
    assert check_feedback_spike(production.template, now) is None


def test_a_spike_of_slow_complaints_never_opens_a_retraining_decision(
    production: Label, analyst: User, make_user: object
) -> None:
    GovernancePolicy.objects.create(
        template=production.template,
        feedback_history_windows=4,
        feedback_min_interactions=4,
    )
    for day in range(5, 1, -1):
        _traffic(production, analyst, day, 4, None)
    _traffic(production, analyst, 1, 6, "thumbs_down", topic="slow")
    now = MIDNIGHT + timedelta(hours=1)
    assert check_feedback_spike(production.template, now) is None
    fired = check_triggers(template=production.template, now=now)
    assert "feedback_spike" not in [event.kind for event in fired]
    # A reviewer finds they were wrong answers after all: now the spike fires,
    # and its evidence says what the latest window's feedback was about.
    reviewer = make_user("rita", "senior_analyst")  # type: ignore[operator]
    for feedback in Feedback.objects.filter(type="thumbs_down"):
        recategorize_feedback(
            feedback=feedback,
            topic="wrong_answer",
            acting_user=reviewer,
            reason="the SQL was wrong",
        )
    finding = check_feedback_spike(production.template, now)
    assert finding is not None
    assert finding[1]["latest_by_category"]["wrong_answer"] == 3
    assert finding[1]["latest_by_category"]["slow"] == 0
