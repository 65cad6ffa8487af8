"""Review quality: guidelines, audit sampling, blind double review, agreement,
calibration."""

import io
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import connections
from django.utils import timezone

from audit.models import AuditEvent
from evaluation.models import GoldenExample
from feedback import audits, calibration, double_review, guidelines, services
from feedback.agreement import agreement_report, kappa
from feedback.exceptions import (
    CalibrationRequired,
    ReviewConflictError,
    ReviewError,
)
from feedback.models import Feedback, GuidelineVersion, Interaction, ReviewItem

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]


@pytest.fixture
def senior3(make_user: Callable[..., User]) -> User:
    return make_user("sid", "senior_analyst", is_staff=True)


@pytest.fixture
def doubled(settings: Any) -> None:
    settings.DOUBLE_REVIEW_SHARE = 1.0


def window() -> tuple:
    now = timezone.now()
    return now - timedelta(hours=1), now + timedelta(minutes=1)


# --- guidelines ------------------------------------------------------------------


def test_guideline_versions_number_up_and_decisions_record_the_one_in_force(
    ml_lead: User, senior: User, correct: Callable
) -> None:
    first = guidelines.publish_guideline_version(text="Run it first.", author=ml_lead)
    later = guidelines.publish_guideline_version(
        text="Prefer explicit joins.",
        author=ml_lead,
        effective_at=timezone.now() + timedelta(days=1),
    )
    assert (first.number, later.number) == (1, 2)
    assert guidelines.guideline_in_force() == first
    assert guidelines.guideline_in_force(later.effective_at) == later
    item = correct()
    services.claim_review_item(item=item, acting_user=senior)
    item = services.approve_review_item(item=item, acting_user=senior)
    assert item.guideline_version == first
    event = AuditEvent.objects.get(event_type="feedback.review_item.approved")
    assert event.data["guideline_version"] == 1


def test_guideline_versions_are_immutable_and_never_backdated(ml_lead: User) -> None:
    version = guidelines.publish_guideline_version(text="v1", author=ml_lead)
    version.text = "rewritten"
    with pytest.raises(Exception, match="written once"):
        version.save()
    with pytest.raises(ReviewError) as caught:
        guidelines.publish_guideline_version(
            text="v2", author=ml_lead, effective_at=timezone.now() - timedelta(days=2)
        )
    assert caught.value.field == "effective_at"
    with pytest.raises(ReviewError, match="a year ahead"):
        guidelines.publish_guideline_version(
            text="v2", author=ml_lead, effective_at=timezone.now() + timedelta(days=999)
        )
    with pytest.raises(ReviewError):
        guidelines.publish_guideline_version(text="  ", author=ml_lead)
    assert GuidelineVersion.objects.get().text == "v1"
    assert version.history.count() == 1


# --- audit sampling ----------------------------------------------------------------


def test_audit_sample_is_stratified_and_takes_only_uncorrected_consented_traffic(
    interaction_event: Build, feedback_event: Build, ingest: Callable
) -> None:
    events = []
    # Stratum A: 10 quiet successes of tenant acme; B: 2 of tenant beta;
    # C: 1 sql_error. Excluded: corrected, thumbs-down, service-only.
    for _ in range(10):
        events.append(interaction_event(tenant_id="acme"))
    for _ in range(2):
        events.append(interaction_event(tenant_id="beta"))
    events.append(interaction_event(outcome="sql_error"))
    liked = interaction_event(tenant_id="acme")
    disliked = interaction_event(tenant_id="acme")
    private = interaction_event(tenant_id="acme", consent_scope="service_only")
    events += [liked, disliked, private]
    events.append(feedback_event(liked["event_id"], type="thumbs_up"))
    events.append(feedback_event(disliked["event_id"], type="thumbs_down"))
    ingest(*events)
    start, end = window()
    report = audits.sample_audit_items(start=start, end=end, share=0.2)
    # acme has 11 candidates (10 + the liked one): ceil(2.2) = 3; beta ceil(0.4)
    # = 1; the lone error 1.
    by_tenant = {(s["tenant_id"], s["outcome"]): s for s in report["by_stratum"]}
    assert by_tenant[("acme", "success")]["candidates"] == 11
    assert by_tenant[("acme", "success")]["drawn"] == 3
    assert by_tenant[("beta", "success")]["drawn"] == 1
    assert by_tenant[("acme", "sql_error")]["drawn"] == 1
    assert report["candidates"] == 14
    assert report["sampled"] == 5
    sampled = ReviewItem.objects.filter(kind="audit")
    assert sampled.count() == 5
    assert not sampled.filter(
        interaction_id__in=[disliked["event_id"], private["event_id"]]
    ).exists()
    assert all(item.feedback_id is None for item in sampled)
    # A rerun of the window draws the same interactions and adds none.
    again = audits.sample_audit_items(start=start, end=end, share=0.2)
    assert (again["drawn"], again["sampled"]) == (5, 0)
    assert ReviewItem.objects.filter(kind="audit").count() == 5


def test_audit_sample_draw_is_reproducible(
    interaction_event: Build, ingest: Callable
) -> None:
    ingest(*[interaction_event() for _ in range(20)])
    rows = list(audits.uncorrected(*window()).values_list("pk", *audits.STRATUM))
    first, _ = audits._draw_strata(rows, 0.25)
    second, _ = audits._draw_strata(list(reversed(rows)), 0.25)
    assert first == second
    assert sum(len(v) for v in first.values()) == 5


def _audit_item(interaction_event: Build, ingest: Callable) -> ReviewItem:
    event = interaction_event(generated_sql="SELECT count(*) FROM singer")
    ingest(event)
    start, end = window()
    audits.sample_audit_items(start=start, end=end, share=1.0)
    return ReviewItem.objects.get(kind="audit", interaction_id=event["event_id"])


def test_an_audit_item_found_right_is_thumbs_up_feedback(
    interaction_event: Build, ingest: Callable, senior: User
) -> None:
    item = _audit_item(interaction_event, ingest)
    services.claim_review_item(item=item, acting_user=senior)
    item = services.approve_review_item(item=item, acting_user=senior)
    assert item.state == "approved"
    assert item.golden_example is None
    signal = Feedback.objects.get(interaction_id=item.interaction_id)
    assert (signal.type, signal.channel, signal.submitted_by) == (
        "thumbs_up",
        "review",
        senior,
    )
    assert signal.submitter_role == "senior_analyst"


def test_an_audit_item_found_wrong_carries_a_correction_another_reviews(
    interaction_event: Build,
    ingest: Callable,
    senior: User,
    senior2: User,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    item = _audit_item(interaction_event, ingest)
    services.claim_review_item(item=item, acting_user=senior)
    with pytest.raises(ReviewError) as caught:
        services.reject_review_item(
            item=item, acting_user=senior, reason="wrong", sql="DROP TABLE singer"
        )
    assert caught.value.field == "sql"
    assert not Feedback.objects.filter(interaction_id=item.interaction_id).exists()
    with django_capture_on_commit_callbacks(execute=True):
        services.reject_review_item(
            item=item,
            acting_user=senior,
            reason="counts everyone, not singers over 30",
            sql="SELECT count(*) FROM singer WHERE age > 30",
        )
    kinds = set(
        Feedback.objects.filter(interaction_id=item.interaction_id).values_list(
            "type", flat=True
        )
    )
    assert kinds == {"thumbs_down", "correction"}
    correction = ReviewItem.objects.get(kind="correction")
    assert correction.check_status == "executed"
    # Whoever wrote the correction cannot review it.
    with pytest.raises(ReviewError, match="submitted"):
        services.claim_review_item(item=correction, acting_user=senior)
    services.claim_review_item(item=correction, acting_user=senior2)
    approved = services.approve_review_item(item=correction, acting_user=senior2)
    assert approved.golden_example is not None


# --- blind double review -------------------------------------------------------


def test_two_equal_blind_verdicts_settle_the_item(
    doubled: None, correct: Callable, senior: User, senior2: User
) -> None:
    item = correct()
    assert item.double_review
    with pytest.raises(ReviewConflictError, match="blind"):
        services.claim_review_item(item=item, acting_user=senior)
    item = double_review.submit_verdict(
        item=item, acting_user=senior, verdict="approve"
    )
    assert item.state == "pending"
    with pytest.raises(ReviewConflictError, match="already"):
        double_review.submit_verdict(
            item=item, acting_user=senior, verdict="reject", reason="changed my mind"
        )
    item = double_review.submit_verdict(
        item=item, acting_user=senior2, verdict="approve"
    )
    assert item.state == "approved"
    assert item.decided_by == senior2
    assert GoldenExample.objects.get().source_feedback_id == item.feedback_id


def test_different_blind_verdicts_go_to_a_third_reviewer(
    doubled: None, correct: Callable, senior: User, senior2: User, senior3: User
) -> None:
    item = correct()
    double_review.submit_verdict(item=item, acting_user=senior, verdict="approve")
    with pytest.raises(ReviewError):
        double_review.submit_verdict(item=item, acting_user=senior2, verdict="reject")
    item = double_review.submit_verdict(
        item=item, acting_user=senior2, verdict="reject", reason="wrong filter"
    )
    assert item.state == "adjudication"
    assert item.escalated_by is None
    for blind in (senior, senior2):
        with pytest.raises(ReviewError, match="another senior"):
            services.approve_review_item(item=item, acting_user=blind)
    item = services.reject_review_item(item=item, acting_user=senior3, reason="no")
    assert (item.state, item.decided_by) == ("rejected", senior3)


def test_agreement_report_computes_kappa_and_agreement_with_outcomes(
    doubled: None,
    correct: Callable,
    senior: User,
    senior2: User,
    senior3: User,
    ml_lead: User,
) -> None:
    guidelines.publish_guideline_version(text="v1", author=ml_lead)
    verdicts = [
        ("approve", "approve"),
        ("approve", "approve"),
        ("reject", "reject"),
        ("approve", "reject"),
    ]
    for index, (first, second) in enumerate(verdicts):
        item = correct(question=f"Singers over 30, take {index}?")
        double_review.submit_verdict(
            item=item, acting_user=senior, verdict=first, reason="r"
        )
        item = double_review.submit_verdict(
            item=item, acting_user=senior2, verdict=second, reason="r"
        )
    services.approve_review_item(item=item, acting_user=senior3)
    report = agreement_report(period="week")
    [row] = report["periods"]
    assert (row["pairs"], row["agreement"], row["kappa"]) == (4, 0.75, 0.5)
    assert row["template"] == "concerts"
    assert row["guideline_versions"] == [1]
    by_name = {r["reviewer"]: r for r in report["reviewers"]}
    assert by_name["sam"]["agreement"] == 1.0
    assert (by_name["sue"]["agreed_with_outcome"], by_name["sue"]["verdicts"]) == (3, 4)
    assert by_name["sue"]["agreed_in_adjudication"] == 0
    adjudication = report["adjudication"]
    assert adjudication["agreement"] == 0.875
    assert adjudication["meets_target"] is False
    assert adjudication["adjudicated_items"] == 1
    assert report["guideline_changes"][0]["label"] == "guidelines v1"


def test_kappa_matches_the_textbook_and_is_undefined_for_one_label() -> None:
    # Fleiss' example shape: 2x2 table (20, 5 / 10, 15) -> kappa 0.4.
    first = ["a"] * 25 + ["b"] * 25
    second = ["a"] * 20 + ["b"] * 5 + ["a"] * 10 + ["b"] * 15
    assert kappa(first, second) == 0.4
    assert kappa(["a", "a"], ["a", "a"]) is None
    assert kappa([], []) is None


# --- calibration -----------------------------------------------------------------


def test_new_reviewers_answer_the_calibration_set_before_the_live_queue(
    correct: Callable, senior: User, senior2: User, ml_lead: User
) -> None:
    known_good, known_bad, live = correct(), correct(question="Oldest?"), correct()
    for item, decide in ((known_good, "approve"), (known_bad, "reject")):
        services.claim_review_item(item=item, acting_user=senior)
        if decide == "approve":
            services.approve_review_item(item=item, acting_user=senior)
        else:
            services.reject_review_item(item=item, acting_user=senior, reason="no")
    good = calibration.add_calibration_item(item=known_good, acting_user=ml_lead)
    bad = calibration.add_calibration_item(item=known_bad, acting_user=ml_lead)
    assert (good.expected, bad.expected) == ("approve", "reject")
    with pytest.raises(ReviewError):
        calibration.add_calibration_item(item=live, acting_user=ml_lead)
    with pytest.raises(CalibrationRequired) as caught:
        services.claim_review_item(item=live, acting_user=senior2)
    assert caught.value.status_code == 403
    calibration.answer_calibration_item(
        calibration_item=good, reviewer=senior2, verdict="approve"
    )
    with pytest.raises(ReviewConflictError):
        calibration.answer_calibration_item(
            calibration_item=good, reviewer=senior2, verdict="reject"
        )
    with pytest.raises(CalibrationRequired, match="1 item"):
        services.claim_review_item(item=live, acting_user=senior2)
    calibration.answer_calibration_item(
        calibration_item=bad, reviewer=senior2, verdict="approve"
    )
    status = calibration.calibration_status(senior2)
    assert status == {
        "reviewer": "sue",
        "total": 2,
        "answered": 2,
        "remaining": 0,
        "agreed": 1,
        "agreement": 0.5,
        "calibrated": True,
    }
    services.claim_review_item(item=live, acting_user=senior2)
    assert Interaction.objects.count() == 3


def test_the_sample_command_prints_the_report_and_refuses_a_bad_share(
    interaction_event: Build, ingest: Callable
) -> None:
    ingest(*[interaction_event() for _ in range(4)])
    start, end = window()
    out = io.StringIO()
    call_command(
        "sample_audit_items",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        "--share",
        "0.5",
        stdout=out,
    )
    assert json.loads(out.getvalue())["sampled"] == 2
    with pytest.raises(CommandError, match="0 to 1"):
        call_command(
            "sample_audit_items",
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
            "--share",
            "2",
        )
    with pytest.raises(CommandError, match="both"):
        call_command("sample_audit_items", "--start", start.isoformat())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_three_reviewers_racing_on_one_double_item_settle_it_once(
    doubled: None,
    correct: Callable,
    senior: User,
    senior2: User,
    senior3: User,
    purge_events: None,
) -> None:
    item = correct()
    reviewers = [senior, senior2, senior3]
    barrier = threading.Barrier(3)
    outcomes: list[str] = []

    def give(index: int) -> None:
        try:
            barrier.wait()
            double_review.submit_verdict(
                item=ReviewItem.objects.get(pk=item.pk),
                acting_user=reviewers[index],
                verdict="approve",
            )
            outcomes.append("given")
        except ReviewConflictError:
            outcomes.append("closed")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=give, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes) == ["closed", "given", "given"]
    item.refresh_from_db()
    assert item.state == "approved"
    assert item.verdicts.count() == 2
    assert GoldenExample.objects.count() == 1
