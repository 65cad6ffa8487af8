"""The stakeholder dashboard's production side, read from feedback.

Per template and optionally one segment (task type) and tenant: interactions
per day, the negative-feedback rate per trigger window with the trigger's
threshold, corrections submitted and approved per week, and online metrics per
week for each label that served traffic. "Negative" is the trigger's own
definition (feedback.selectors.wrong_answer_feedback) and the threshold is the
feedback-spike trigger's (governance.triggers.detect_spike under the template's
policy), so the chart shows what the trigger sees.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from evaluation.runs.summaries import percentile
from feedback.models import Feedback, Interaction, ReviewItem
from feedback.selectors import wrong_answer_feedback
from governance.gates import policy_for
from governance.triggers import detect_spike
from portal.labels import label_rank, label_timeline
from registry.models import PromptTemplate

UNLABELLED = "unlabelled pair"


@dataclass(frozen=True)
class Period:
    """Whole UTC days [start, end): the last `days` days, today included."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def last(cls, days: int, now: dt.datetime | None = None) -> Period:
        today = (now or timezone.now()).astimezone(dt.UTC)
        end = today.replace(hour=0, minute=0, second=0, microsecond=0)
        end += dt.timedelta(days=1)
        return cls(end - dt.timedelta(days=days), end)


def week_of(at: dt.datetime) -> dt.datetime:
    """Monday 00:00 UTC of the week holding `at`."""
    day = at.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - dt.timedelta(days=day.weekday())


def scoped_interactions(
    *, template: PromptTemplate, task_type: str = "", tenant: str = ""
) -> QuerySet[Interaction]:
    """The template's interactions, narrowed to one task type and tenant."""
    found = Interaction.objects.filter(template=template)
    if task_type:
        found = found.filter(task_type=task_type)
    if tenant:
        found = found.filter(tenant_id=tenant)
    return found


def daily_counts(
    interactions: QuerySet[Interaction],
    start: dt.datetime,
    end: dt.datetime,
    *,
    negatives: bool = True,
) -> dict[dt.date, tuple[int, int]]:
    """UTC day -> (interactions, those with a wrong-answer signal); one query.
    `negatives=False` skips the second count (0), which is the costly one."""
    rows = (
        interactions.filter(occurred_at__gte=start, occurred_at__lt=end)
        .annotate(
            day=TruncDate("occurred_at", tzinfo=dt.UTC),
            negative=Exists(
                wrong_answer_feedback().filter(interaction_id=OuterRef("pk"))
            ),
        )
        .order_by()
        .values_list("day")
    )
    if not negatives:
        return {day: (total, 0) for day, total in rows.annotate(total=Count("pk"))}
    counted = rows.annotate(
        total=Count("pk"), negative_n=Count("pk", filter=Q(negative=True))
    )
    return {day: (total, neg) for day, total, neg in counted}


@dataclass(frozen=True)
class Window:
    """One trigger window: its counts, rate and the trigger's threshold for it
    (None with fewer than two usable history windows, as the trigger has)."""

    start: dt.datetime
    total: int
    negative: int
    threshold: float | None

    @property
    def rate(self) -> float | None:
        return self.negative / self.total if self.total else None


def _windows(
    days: dict[dt.date, tuple[int, int]], first: dt.datetime, span: int, count: int
) -> list[tuple[dt.datetime, int, int]]:
    out = []
    for index in range(count):
        start = first + dt.timedelta(days=span * index)
        total = negative = 0
        for offset in range(span):
            t, n = days.get((start + dt.timedelta(days=offset)).date(), (0, 0))
            total, negative = total + t, negative + n
        out.append((start, total, negative))
    return out


def negative_rate_windows(
    *, template: PromptTemplate, period: Period, task_type: str = "", tenant: str = ""
) -> list[Window]:
    """The negative-feedback rate per trigger window in `period`, with the
    feedback-spike threshold each window was (or would be) checked against.

    Windows are the policy's `feedback_window_days` long and end at the
    period's end, as the trigger's end at midnight. The threshold always comes
    from the whole template's traffic, which is what the trigger watches; the
    rate follows the segment and tenant filters.
    """
    policy = policy_for(template)
    span, history = policy.feedback_window_days, policy.feedback_history_windows
    shown = max(1, (period.end - period.start).days // span)
    first = period.end - dt.timedelta(days=span * shown)
    since = first - dt.timedelta(days=span * history)
    whole = _windows(
        daily_counts(scoped_interactions(template=template), since, period.end),
        since,
        span,
        history + shown,
    )
    scoped = whole
    if task_type or tenant:
        scope = scoped_interactions(
            template=template, task_type=task_type, tenant=tenant
        )
        scoped = _windows(
            daily_counts(scope, since, period.end), since, span, history + shown
        )
    found = []
    for index in range(history, history + shown):
        usable = [
            neg / total
            for _, total, neg in whole[index - history : index]
            if total >= policy.feedback_min_interactions
        ]
        _, total, neg = whole[index]
        spike = detect_spike(
            [*usable, neg / total if total else 0.0], sigma=policy.feedback_sigma
        )
        start, s_total, s_neg = scoped[index]
        threshold = spike.threshold if spike.history_windows >= 2 else None
        found.append(Window(start, s_total, s_neg, threshold))
    return found


def interactions_per_day(
    *, template: PromptTemplate, period: Period, task_type: str = "", tenant: str = ""
) -> list[tuple[dt.datetime, int]]:
    """(UTC day, interactions) for every day of `period`, zeros included."""
    scope = scoped_interactions(template=template, task_type=task_type, tenant=tenant)
    days = daily_counts(scope, period.start, period.end, negatives=False)
    out = []
    at = period.start
    while at < period.end:
        out.append((at, days.get(at.date(), (0, 0))[0]))
        at += dt.timedelta(days=1)
    return out


def corrections_per_week(
    *, template: PromptTemplate, period: Period, task_type: str = "", tenant: str = ""
) -> list[tuple[dt.datetime, int, int]]:
    """(week, corrections submitted, corrections approved) for every week that
    starts in `period`: submitted by the feedback's time, approved by the
    review decision's."""
    scope = scoped_interactions(template=template, task_type=task_type, tenant=tenant)
    submitted = Feedback.objects.filter(
        type=Feedback.Type.CORRECTION,
        interaction__in=scope,
        occurred_at__gte=period.start,
        occurred_at__lt=period.end,
    ).values_list("occurred_at", flat=True)
    approved = ReviewItem.objects.filter(
        kind=ReviewItem.Kind.CORRECTION,
        state=ReviewItem.State.APPROVED,
        interaction__in=scope,
        decided_at__gte=period.start,
        decided_at__lt=period.end,
    ).values_list("decided_at", flat=True)
    sent: dict[dt.datetime, int] = defaultdict(int)
    done: dict[dt.datetime, int] = defaultdict(int)
    for at in submitted:
        sent[week_of(at)] += 1
    for decided in approved:
        if decided is not None:
            done[week_of(decided)] += 1
    weeks, week = [], week_of(period.start)
    while week < period.end:
        weeks.append((week, sent.get(week, 0), done.get(week, 0)))
        week += dt.timedelta(days=7)
    return weeks


@dataclass
class LabelWeek:
    """One label's traffic in one week."""

    interactions: int = 0
    negatives: int = 0
    successes: int = 0
    latencies: list[float] = field(default_factory=list)

    @property
    def negative_rate(self) -> float:
        return self.negatives / self.interactions

    @property
    def success_rate(self) -> float:
        return self.successes / self.interactions

    @property
    def latency_p95_ms(self) -> float | None:
        return percentile(self.latencies, 0.95) if self.latencies else None


def online_by_label(
    *, template: PromptTemplate, period: Period, task_type: str = "", tenant: str = ""
) -> dict[str, dict[dt.datetime, LabelWeek]]:
    """Label -> week -> the traffic that label served, production first.

    Each interaction goes to the label that served its (prompt, model) pair
    when it occurred (label history; a holdout sharing production's pair is
    told apart by the session's sticky routing). Pairs no serving label
    pointed at then count as UNLABELLED. Latency is the server's, else the
    client's.
    """
    timeline = label_timeline(template=template)
    negative = Exists(wrong_answer_feedback().filter(interaction_id=OuterRef("pk")))
    rows = (
        scoped_interactions(template=template, task_type=task_type, tenant=tenant)
        .filter(occurred_at__gte=period.start, occurred_at__lt=period.end)
        .annotate(negative=negative)
        .order_by()
        .values_list(
            "occurred_at",
            "prompt_version_id",
            "model_version_id",
            "session_id",
            "outcome",
            "server_latency_ms",
            "client_latency_ms",
            "negative",
        )
    )
    found: dict[str, dict[dt.datetime, LabelWeek]] = {}
    for at, prompt, model, session, outcome, server, client, neg in rows.iterator():
        label = timeline.served_by((prompt, model), at, session) or UNLABELLED
        week = found.setdefault(label, {}).setdefault(week_of(at), LabelWeek())
        week.interactions += 1
        week.negatives += bool(neg)
        week.successes += outcome == Interaction.Outcome.SUCCESS
        latency = server if server is not None else client
        if latency is not None:
            week.latencies.append(float(latency))
    return {
        name: dict(sorted(weeks.items()))
        for name, weeks in sorted(found.items(), key=lambda kv: label_rank(kv[0]))
    }


def filter_choices(template: PromptTemplate) -> tuple[list[str], list[str]]:
    """The template's task types and tenants seen in traffic, for the filters."""
    scope = Interaction.objects.filter(template=template).order_by()
    tasks = sorted(set(scope.values_list("task_type", flat=True).distinct()))
    tenants = sorted(set(scope.values_list("tenant_id", flat=True).distinct()))
    return tasks, tenants
