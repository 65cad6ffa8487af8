"""Input drift, safety violations and output diversity: each fires on a shifted,
violating or collapsed dataset and stays quiet on a stable one."""

import math
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.statistics import PSI_FLOOR, psi_contributions
from feedback.categorization import recategorize_feedback
from feedback.ingestion import ingest_events
from feedback.models import FeedbackTopic
from governance import drift
from governance.diversity import check_output_diversity
from governance.drift import check_input_drift
from governance.models import DecisionLogEntry, GovernancePolicy, TriggerEvent
from governance.traffic_features import (
    OTHER,
    cap_categories,
    length_bucket,
    question_terms,
    sample_bound,
    sql_profile,
)
from governance.triggers import check_triggers
from governance.violations import check_safety_violations, count_violations
from registry.models import Label
from registry.services import set_restricted
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import PAIRS, approve_spider, cycle, golden_snapshot

# Ingestion refuses events from the future: the checks run at the real time.
NOW = timezone.now()
MIDNIGHT = NOW.replace(hour=0, minute=0, second=0, microsecond=0)

# One literal each, ten different shapes on the concert_singer schema.
SHAPES = [
    "SELECT name FROM singer WHERE age > {n}",
    "SELECT country FROM singer WHERE age > {n}",
    "SELECT name FROM singer WHERE age < {n}",
    "SELECT count(*) FROM singer WHERE age > {n}",
    "SELECT name FROM stadium WHERE capacity > {n}",
    "SELECT location FROM stadium WHERE capacity > {n}",
    "SELECT count(*) FROM concert WHERE year = '{n}'",
    "SELECT concert_name FROM concert WHERE year = '{n}'",
    "SELECT name FROM singer ORDER BY age DESC LIMIT {n}",
    "SELECT avg(capacity) FROM stadium WHERE highest > {n}",
]
SINGER = ("adhoc", "How many singers are older than {n}", SHAPES[3])
STADIUM = ("adhoc", "Which stadium holds more than {n} people", SHAPES[4])
CONCERT = ("report", "List every concert of year {n} with its theme", SHAPES[7])


def _send(
    production: Label,
    analyst: User,
    at: datetime,
    rows: list[tuple[str, str, str]],
    *,
    outcome: str = "success",
    feedback: str | None = None,
    topic: str | None = None,
) -> None:
    """Interactions (task type, question, SQL) at `at`, each with `outcome`
    and, when given, one feedback event of type `feedback`."""
    events: list[dict[str, object]] = []
    for index, (task_type, question, sql) in enumerate(rows):
        event_id = str(uuid.uuid4())
        events.append(
            {
                "kind": "interaction",
                "event_id": event_id,
                "user_id": f"u{index}",
                "tenant_id": "acme",
                "task_type": task_type,
                "question": question.format(n=index + 1),
                "generated_sql": sql.format(n=index + 1),
                "prompt_version": production.prompt_version_id,
                "model_version": production.model_version_id,
                "outcome": outcome,
                "consent_scope": "improvement",
                "occurred_at": at.isoformat(),
            }
        )
        if feedback:
            events.append(
                {
                    "kind": "feedback",
                    "event_id": str(uuid.uuid4()),
                    "interaction_id": event_id,
                    "type": feedback,
                    "submitter_role": "analyst",
                    "occurred_at": at.isoformat(),
                    **({"topic": topic} if topic else {}),
                }
            )
    results = ingest_events(events=events, acting_user=analyst, channel="api")
    assert {r.status for r in results} == {"created"}


def _days_ago(days: int) -> datetime:
    return MIDNIGHT - timedelta(days=days) + timedelta(hours=9)


# --- the pure helpers ------------------------------------------------------


def test_psi_matches_a_hand_computed_value_and_is_zero_for_the_same_mix() -> None:
    terms = psi_contributions({"a": 50, "b": 50}, {"a": 80, "b": 20})
    assert terms["a"] == pytest.approx(0.3 * math.log(1.6))
    assert terms["b"] == pytest.approx(0.3 * math.log(2.5))
    assert sum(terms.values()) == pytest.approx(0.4159, abs=1e-4)
    assert sum(psi_contributions({"a": 1, "b": 3}, {"a": 10, "b": 30}).values()) == 0
    assert psi_contributions({}, {"a": 1}) == {}


def test_psi_floors_a_category_missing_on_one_side() -> None:
    terms = psi_contributions({"a": 10}, {"a": 5, "new": 5})
    assert terms["new"] == pytest.approx((0.5 - PSI_FLOOR) * math.log(0.5 / PSI_FLOOR))


def test_sql_shape_ignores_literals_but_not_structure() -> None:
    one = sql_profile("SELECT name FROM singer WHERE age > 30", dialect="sqlite")
    two = sql_profile("select name from singer where age > 41", dialect="sqlite")
    other = sql_profile("SELECT name FROM singer WHERE age < 30", dialect="sqlite")
    assert one.shape and one.shape == two.shape != other.shape
    assert one.tables == {"singer"} and one.columns == {"name", "age"}
    cte = sql_profile(
        "WITH old AS (SELECT * FROM singer) SELECT name FROM old", dialect="sqlite"
    )
    assert cte.tables == {"singer"}
    assert sql_profile("SELEC nonsense ((", dialect="sqlite").shape == ""
    assert sql_profile("", dialect="sqlite").tables == frozenset()


def test_question_features() -> None:
    assert length_bucket("How many") == "1-5"
    assert length_bucket(" ".join(["w"] * 11)) == "11-20"
    assert length_bucket(" ".join(["w"] * 50)) == "41+"
    assert question_terms("How many singers are in the 2 stadiums?") == {
        "singers",
        "stadiums",
    }
    base, cur = cap_categories({"a": 5, "b": 1}, {"a": 1, "c": 1}, limit=1)
    assert base == Counter({"a": 5, OTHER: 1}) and cur == Counter({"a": 1, OTHER: 1})


def test_sample_bound_keeps_the_share_of_random_ids_below_it() -> None:
    assert sample_bound(100, 100) is None
    bound = sample_bound(10_000, 2_500)
    assert bound is not None and bound.int == 2**126
    ids = [uuid.UUID(int=i * 2**128 // 1000) for i in range(1000)]
    assert sum(i < bound for i in ids) == 250


# --- input drift -------------------------------------------------------------


@pytest.fixture
def drift_baseline(production: Label, analyst: User) -> Label:
    """28 baseline days: an even mix of singer and stadium questions."""
    GovernancePolicy.objects.create(
        template=production.template, feedback_min_interactions=10
    )
    for day in range(8, 36, 7):
        _send(production, analyst, _days_ago(day), [SINGER] * 5 + [STADIUM] * 5)
    return production


def test_drift_stays_quiet_when_the_mix_holds(
    drift_baseline: Label, analyst: User
) -> None:
    for day in (2, 5):
        _send(drift_baseline, analyst, _days_ago(day), [SINGER] * 5 + [STADIUM] * 5)
    assert check_input_drift(drift_baseline.template, NOW) is None


def test_drift_fires_investigate_with_psi_evidence_once(
    drift_baseline: Label, analyst: User
) -> None:
    for day in (2, 5):
        _send(drift_baseline, analyst, _days_ago(day), [CONCERT] * 8 + [SINGER] * 2)
    fired = check_triggers(template=drift_baseline.template, now=NOW)
    [event] = [e for e in fired if e.kind == TriggerEvent.Kind.INPUT_DRIFT]
    evidence = event.evidence
    assert evidence["test"] == "population_stability_index"
    assert evidence["threshold"] == 0.2
    assert {"task_type", "tables", "terms"} <= set(evidence["shifted_features"])
    assert evidence["baseline"]["interactions"] == 40
    assert evidence["current"] == {
        "start": (MIDNIGHT - timedelta(days=7)).isoformat(),
        "end": MIDNIGHT.isoformat(),
        "interactions": 20,
        "sampled": 20,
    }
    tables = evidence["features"]["tables"]
    assert tables["psi"] > 0.2
    top = tables["top_shifted"][0]
    assert top["category"] == "concert"
    assert top["baseline_share"] == 0 and top["current_share"] == 0.8
    entry = DecisionLogEntry.objects.get(trigger=event)
    assert entry.decision == DecisionLogEntry.Decision.INVESTIGATE
    assert "shifted" in entry.rationale
    again = check_triggers(template=drift_baseline.template, now=NOW)
    assert not [e for e in again if e.kind == TriggerEvent.Kind.INPUT_DRIFT]


def test_drift_reads_its_threshold_and_minimum_from_the_policy(
    drift_baseline: Label, analyst: User
) -> None:
    _send(drift_baseline, analyst, _days_ago(2), [CONCERT] * 9)
    # Nine interactions: below the policy's minimum of ten.
    assert check_input_drift(drift_baseline.template, NOW) is None
    _send(drift_baseline, analyst, _days_ago(3), [CONCERT] * 9)
    assert check_input_drift(drift_baseline.template, NOW) is not None
    GovernancePolicy.objects.filter(template=drift_baseline.template).update(
        drift_psi_threshold=50.0
    )
    assert check_input_drift(drift_baseline.template, NOW) is None


def test_drift_reads_a_sample_of_a_busy_window_and_still_fires(
    drift_baseline: Label, analyst: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(drift, "SAMPLE_LIMIT", 15)
    for day in (2, 5):
        _send(drift_baseline, analyst, _days_ago(day), [CONCERT] * 10)
    finding = check_input_drift(drift_baseline.template, NOW)
    assert finding is not None
    baseline, current = finding[1]["baseline"], finding[1]["current"]
    assert baseline["interactions"] == 40 and 0 < baseline["sampled"] < 40
    assert current["interactions"] == 20 and 0 < current["sampled"] < 20
    assert "tables" in finding[1]["shifted_features"]


# --- safety violations -------------------------------------------------------


@pytest.fixture
def clean_day(production: Label, analyst: User) -> Label:
    """49 clean interactions an hour before NOW, and one gate denial."""
    GovernancePolicy.objects.create(
        template=production.template, feedback_min_interactions=20
    )
    at = NOW - timedelta(hours=1)
    _send(production, analyst, at, [SINGER] * 49)
    _send(production, analyst, at, [("adhoc", "Drop them", "DELETE FROM singer")])
    return production


def test_safety_stays_quiet_at_the_accepted_rate(clean_day: Label) -> None:
    # 1 of 50 is exactly the accepted 2%: not above it.
    assert check_safety_violations(clean_day.template, NOW) is None


def test_declined_answers_and_unparsable_sql_are_no_violations(
    clean_day: Label, analyst: User
) -> None:
    at = NOW - timedelta(hours=1)
    _send(clean_day, analyst, at, [("adhoc", "Tell me", "")], outcome="refused")
    _send(clean_day, analyst, at, [("adhoc", "Broken", "SELEC name FROM (")])
    assert check_safety_violations(clean_day.template, NOW) is None


def test_safety_fires_an_immediate_review_with_each_source_counted(
    clean_day: Label, analyst: User, ml_lead: User
) -> None:
    at = NOW - timedelta(hours=1)
    template = clean_day.template
    set_restricted(template=template, entries=["stadium.Location"], acting_user=ml_lead)
    template.refresh_from_db()
    _send(clean_day, analyst, at, [SINGER], outcome="refused")
    _send(clean_day, analyst, at, [STADIUM], feedback="escalated")
    _send(clean_day, analyst, at, [("adhoc", "Q", "SELECT load_extension('x')")])
    _send(clean_day, analyst, at, [("adhoc", "Where", "SELECT location FROM stadium")])
    fired = check_triggers(template=template, now=NOW)
    [event] = [e for e in fired if e.kind == TriggerEvent.Kind.SAFETY_VIOLATION]
    evidence = event.evidence
    assert evidence["interactions"] == 54 and evidence["violations"] == 5
    assert evidence["by_source"] == {
        "sandbox_refused": 1,
        "gate_denied": 2,
        "restricted": 1,
        "flagged": 1,
    }
    assert evidence["rate"] == pytest.approx(5 / 54, abs=1e-4)
    assert evidence["threshold"] == 0.02
    gates = " | ".join(e["gate"] for e in evidence["examples"])
    assert "Delete" in gates and "load_extension" in gates
    reads = [e["restricted"] for e in evidence["examples"] if e["restricted"]]
    assert reads == [["column stadium.location"]]
    entry = DecisionLogEntry.objects.get(trigger=event)
    assert entry.decision == DecisionLogEntry.Decision.INVESTIGATE
    assert "Immediate review" in entry.rationale
    assert check_triggers(template=clean_day.template, now=NOW) == []


def test_a_safety_category_flags_its_interaction_as_an_escalation_does(
    clean_day: Label, analyst: User, make_user: Callable[..., User]
) -> None:
    senior = make_user("rita", "senior_analyst")
    at = NOW - timedelta(hours=1)
    _send(clean_day, analyst, at, [SINGER], feedback="thumbs_down", topic="safety")
    _send(clean_day, analyst, at, [SINGER], feedback="thumbs_down", topic="slow")
    counted = count_violations(clean_day.template, NOW - timedelta(days=1), NOW)
    assert counted["by_source"]["flagged"] == 1
    # The current category decides: a reviewer's recategorization counts.
    slow = FeedbackTopic.objects.get(topic="slow").feedback
    recategorize_feedback(
        feedback=slow, topic="safety", reason="it listed salaries", acting_user=senior
    )
    counted = count_violations(clean_day.template, NOW - timedelta(days=1), NOW)
    assert counted["by_source"]["flagged"] == 2
    [event] = [
        e
        for e in check_triggers(template=clean_day.template, now=NOW)
        if e.kind == TriggerEvent.Kind.SAFETY_VIOLATION
    ]
    assert event.evidence["by_source"]["flagged"] == 2


def test_safety_ignores_yesterdays_violations_and_reads_the_policy_rate(
    clean_day: Label, analyst: User
) -> None:
    old = NOW - timedelta(days=2)
    _send(clean_day, analyst, old, [("adhoc", "Q", "DROP TABLE singer")] * 5)
    assert check_safety_violations(clean_day.template, NOW) is None
    GovernancePolicy.objects.filter(template=clean_day.template).update(
        safety_violation_rate=0.01
    )
    finding = check_safety_violations(clean_day.template, NOW)
    assert finding is not None and finding[1]["violations"] == 1


# --- output diversity --------------------------------------------------------


@pytest.fixture
def varied_week(production: Label, analyst: User) -> Label:
    """The week before the current one: ten shapes, twice each, in `adhoc`."""
    GovernancePolicy.objects.create(
        template=production.template, feedback_min_interactions=10
    )
    rows = [("adhoc", "Question {n}", sql) for sql in SHAPES * 2]
    _send(production, analyst, _days_ago(10), rows)
    return production


def test_diversity_stays_quiet_while_shapes_stay_varied(
    varied_week: Label, analyst: User
) -> None:
    rows = [("adhoc", "Question {n}", sql) for sql in SHAPES * 3]
    _send(varied_week, analyst, _days_ago(3), rows)
    assert check_output_diversity(varied_week.template, NOW) is None


def test_diversity_fires_when_a_segment_collapses_to_few_shapes(
    varied_week: Label, analyst: User
) -> None:
    # 30 queries, different literals, two shapes; `report` is too small to judge.
    rows = [("adhoc", "Question {n}", sql) for sql in SHAPES[:2] * 15]
    _send(varied_week, analyst, _days_ago(3), rows + [CONCERT] * 3)
    fired = check_triggers(template=varied_week.template, now=NOW)
    [event] = [e for e in fired if e.kind == TriggerEvent.Kind.OUTPUT_DIVERSITY]
    adhoc = event.evidence["segments"]["adhoc"]
    # Both windows are cut to the previous week's 20 queries before counting.
    assert adhoc == {
        "interactions": 20,
        "previous_shapes": 10,
        "current_shapes": 2,
        "ratio": 0.2,
        "collapsed": True,
    }
    assert event.evidence["collapsed"] == ["adhoc"]
    assert event.evidence["threshold"] == 0.5
    assert event.evidence["segments"]["report"]["too_small"] is True
    entry = DecisionLogEntry.objects.get(trigger=event)
    assert entry.decision == DecisionLogEntry.Decision.INVESTIGATE
    GovernancePolicy.objects.filter(template=varied_week.template).update(
        diversity_collapse_ratio=0.1
    )
    assert check_output_diversity(varied_week.template, NOW) is None


def test_a_cycle_reports_diversity_and_records_a_collapse_once(
    varied_week: Label,
    analyst: User,
    ml_lead: User,
    make_user: Callable[..., User],
    target_db: TargetDatabase,
) -> None:
    template = varied_week.template
    rows = [("adhoc", "Question {n}", sql) for sql in SHAPES[:2] * 15]
    _send(varied_week, analyst, _days_ago(3), rows)
    senior = make_user("sen", "senior_analyst", is_staff=True)
    client = make_user("bot", "analyst")
    golden_snapshot(target_db, [golden for golden, _ in PAIRS])
    for _, traffic in PAIRS[:3]:
        approve_spider(template, client, senior, traffic)
    outcome = cycle(template, ml_lead, min_examples=3)
    report = outcome.cycle.validation["output_diversity"]
    assert report["collapsed"] == ["adhoc"]
    assert report["segments"]["adhoc"]["current_shapes"] == 2
    [step] = [s for s in outcome.cycle.steps if s["name"] == "validate"]
    assert step["numbers"]["diversity_collapsed"] == ["adhoc"]
    event = TriggerEvent.objects.get(kind=TriggerEvent.Kind.OUTPUT_DIVERSITY)
    assert event.evidence["collapsed"] == ["adhoc"]
    # The periodic check finds the same collapse and does not fire it again.
    fired = check_triggers(template=template, now=timezone.now())
    assert not [e for e in fired if e.kind == TriggerEvent.Kind.OUTPUT_DIVERSITY]


def test_a_cycle_without_collapse_records_no_diversity_event(
    varied_week: Label,
    ml_lead: User,
    make_user: Callable[..., User],
    target_db: TargetDatabase,
) -> None:
    senior = make_user("sen", "senior_analyst", is_staff=True)
    client = make_user("bot", "analyst")
    golden_snapshot(target_db, [golden for golden, _ in PAIRS])
    for _, traffic in PAIRS[:3]:
        approve_spider(varied_week.template, client, senior, traffic)
    outcome = cycle(varied_week.template, ml_lead, min_examples=3)
    report = outcome.cycle.validation["output_diversity"]
    # The current week is empty: too small to judge, never a collapse.
    assert report["collapsed"] == []
    assert report["segments"]["adhoc"] == {"interactions": 0, "too_small": True}
    assert not TriggerEvent.objects.filter(kind=TriggerEvent.Kind.OUTPUT_DIVERSITY)


def test_a_zero_minimum_on_empty_windows_stays_quiet(
    production: Label, analyst: User
) -> None:
    GovernancePolicy.objects.create(
        template=production.template, feedback_min_interactions=0
    )
    _send(production, analyst, _days_ago(10), [SINGER] * 3)  # previous week only
    assert check_input_drift(production.template, NOW) is None
    assert check_safety_violations(production.template, NOW) is None
    assert check_output_diversity(production.template, NOW) is None
