"""The weekly holdout drift report and the trigger a significant gap fires.

Each complete ISO week (Monday to Monday, UTC) since the holdout was established
gets one `HoldoutReport` row: production's figures beside the holdout's. The
series is long-term drift; a week whose gap is significant fires the
`holdout_drift` trigger, which opens an `investigate` decision once per pair of
baseline and production pairs (`triggers.fire_trigger` deduplicates).
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from governance.holdout_stats import compare_holdout
from governance.models import HoldoutReport
from registry.models import Label, PromptTemplate

# Weeks the check backfills when it has not run for a while.
MAX_BACKFILL_WEEKS = 12


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week holding `moment`."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def record_week(*, template: PromptTemplate, start: date) -> HoldoutReport | None:
    """Write the report of the week starting `start`; the stored one if it
    exists, None without a holdout. Idempotent (one row per template and week,
    a concurrent writer's row wins)."""
    existing = HoldoutReport.objects.filter(template=template, week_start=start).first()
    if existing is not None:
        return existing
    comparison = compare_holdout(
        template=template,
        since=_midnight(start),
        until=_midnight(start + timedelta(days=7)),
    )
    if comparison is None:
        return None
    holdout, production = (
        comparison["holdout"]["pair"],
        comparison["production"]["pair"],
    )
    try:
        with transaction.atomic():
            return HoldoutReport.objects.create(
                template=template,
                week_start=start,
                holdout_prompt_version_id=holdout[0],
                holdout_model_version_id=holdout[1],
                production_prompt_version_id=production[0],
                production_model_version_id=production[1],
                negative_rate_gap=comparison["delta"]["negative_rate"],
                success_rate_gap=comparison["delta"]["success_rate"],
                significant=comparison["significant"],
                comparison=comparison,
            )
    except IntegrityError:
        return HoldoutReport.objects.get(template=template, week_start=start)


def record_weeks(*, template: PromptTemplate, now: datetime) -> list[HoldoutReport]:
    """Reports for every complete week since the holdout was established (at
    most `MAX_BACKFILL_WEEKS`), oldest first."""
    holdout = Label.objects.filter(template=template, name=Label.Name.HOLDOUT).first()
    if holdout is None:
        return []
    first_moved = holdout.history.order_by("history_date").values_list(
        "history_date", flat=True
    )[:1]
    established = first_moved[0] if first_moved else holdout.moved_at
    current = week_start(now)
    start = max(week_start(established), current - timedelta(weeks=MAX_BACKFILL_WEEKS))
    reports = []
    while start < current:
        report = record_week(template=template, start=start)
        if report is not None:
            reports.append(report)
        start += timedelta(weeks=1)
    return reports


def check_holdout_drift(
    template: PromptTemplate, now: datetime
) -> tuple[str, dict[str, Any]] | None:
    """Record the missing weekly reports; a finding when the latest complete
    week's gap is significant (keyed by both pairs: one decision per pair of
    baseline and production)."""
    reports = record_weeks(template=template, now=now)
    latest = reports[-1] if reports else None
    if latest is None or not latest.significant:
        return None
    key = (
        f"holdout:{latest.holdout_prompt_version_id}-{latest.holdout_model_version_id}"
        f":production:{latest.production_prompt_version_id}"
        f"-{latest.production_model_version_id}"
    )
    return key, {
        "week_start": latest.week_start.isoformat(),
        "report": latest.pk,
        "negative_rate_gap": latest.negative_rate_gap,
        "success_rate_gap": latest.success_rate_gap,
        "tests": latest.comparison["tests"],
    }
