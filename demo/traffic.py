"""The demo's simulated people: the assistant serving questions, analysts giving
thumbs and corrections, senior analysts working the review queue.

Everything goes through the product's own paths (`resolve_pair`, the model
backend, `ingest_events`, the review services), so what the demo shows is what
the product does. Analysts know the right answer (Spider's gold SQL); their
judgement is simulated by executing both queries and comparing results.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.backends import Backend, backend_for
from evaluation.scoring import ItemScore, score_item
from feedback import double_review
from feedback import services as review
from feedback.ingestion import ingest_events
from feedback.models import ReviewItem
from feedback.result_digest import ExecutionFailed, execute_on_target
from feedback.selectors import list_review_queue
from registry.models import PromptTemplate
from registry.selectors import resolve_pair
from targets.execution import sandbox_for_target
from targets.schema import sqlglot_schema


@dataclass(frozen=True)
class Question:
    """A Spider item: its position in dev.json, question and gold SQL."""

    index: int
    question: str
    sql: str


@dataclass
class TrafficStats:
    """What one simulated period of traffic produced."""

    interactions: int = 0
    correct: int = 0
    thumbs_down: int = 0
    corrections: int = 0
    by_label: dict[str, int] = field(default_factory=dict)


@dataclass
class ReviewStats:
    """What the senior analysts did."""

    approved: int = 0
    rejected: int = 0
    adjudicated: int = 0
    double_reviewed: int = 0


def _consent(position: int) -> str:
    # Most users allow training use; some only quality improvement; a few
    # only the service itself (never reviewed, never exported).
    if position % 11 == 10:
        return "service_only"
    return "improvement" if position % 5 == 4 else "training"


def _outcome(score: ItemScore) -> str:
    if not score.executed:
        return "sql_error"
    return "success" if score.pred_row_count else "empty_result"


def _first_table(template: PromptTemplate) -> str:
    return next(iter(template.target_database.schema))


class Assistant:
    """Serves questions of one template the way an integrated assistant would."""

    def __init__(self, template: PromptTemplate) -> None:
        self.template = template
        self.target = template.target_database
        self.schema = sqlglot_schema(self.target.schema)
        self.backends: dict[tuple[int, int], Backend] = {}

    def answer(self, question: Question, session: str) -> tuple[Any, str, ItemScore]:
        resolution = resolve_pair(template=self.template, session_id=session)
        label = resolution.label
        key = (label.prompt_version_id, label.model_version_id)
        if key not in self.backends:
            self.backends[key] = backend_for(
                prompt_version=label.prompt_version, model_version=label.model_version
            )
        generation = self.backends[key].generate(
            question.question,
            database=self.target.name,
            schema=self.target.schema,
            dialect=self.target.dialect,
        )
        score = score_item(
            generation.sql,
            question.sql,
            sandbox_for_target(self.target),
            dialect=self.target.dialect,
            schema=self.schema,
        )
        return label, generation.sql, score


def serve(
    *,
    template: PromptTemplate,
    questions: Sequence[Question],
    client: User,
    period: str,
    corrections: bool,
    days_ago: float = 6.0,
    sloppy_at: int = 0,
    disagree_once: bool = False,
    failing: tuple[int, int] | None = None,
) -> TrafficStats:
    """Serve each question once in a new session, with the analyst's feedback.

    Sessions are spread from `days_ago` until now. Right answers get a thumbs
    up and a copy; wrong ones a thumbs down and, with `corrections`, the gold
    SQL as a correction (the `sloppy_at`-th wrong answer gets a careless one
    instead). `disagree_once` makes a second analyst ask the first wrongly
    answered question again and correct it differently: two corrections of
    one question that disagree. Every answer also reports the outcome metric
    `answer_used` (1 or 0). Answers of the `failing` pair (prompt, model ids)
    time out: a simulated incident that only online traffic shows.
    """
    assistant = Assistant(template)
    stats = TrafficStats()
    events: list[dict[str, Any]] = []
    start = timezone.now() - timedelta(days=days_ago)
    step = timedelta(days=days_ago) / max(len(questions), 1)
    wrong = 0
    for position, question in enumerate(questions):
        session = f"demo-{template.name}-{period}-{position:03d}"
        label, sql, score = assistant.answer(question, session)
        if failing == (label.prompt_version_id, label.model_version_id):
            sql, score = "", replace(score, executed=False, execution_match=False)
        stats.by_label[label.name] = stats.by_label.get(label.name, 0) + 1
        at = (start + step * position).isoformat()
        interaction = _interaction(template, question, session, label, sql, score, at)
        interaction["consent_scope"] = _consent(position)
        if failing == (label.prompt_version_id, label.model_version_id):
            interaction["outcome"] = "timeout"
        events.append(interaction)
        event_id, analyst = interaction["event_id"], "demo-analyst"
        stats.interactions += 1
        if score.execution_match:
            stats.correct += 1
            events += [
                _feedback(event_id, "thumbs_up", analyst, at),
                _feedback(event_id, "copied", analyst, at),
            ]
        else:
            stats.thumbs_down += 1
            events.append(_feedback(event_id, "thumbs_down", analyst, at))
            if corrections:
                wrong += 1
                fix = question.sql
                if wrong == sloppy_at:
                    # A careless correction the reviewers will reject; the table
                    # name comes from the captured schema, not from input.
                    fix = f"SELECT * FROM {_first_table(template)}"  # noqa: S608
                events.append(_feedback(event_id, "correction", analyst, at, fix))
                stats.corrections += 1
                if disagree_once and fix == question.sql:
                    disagree_once = False
                    other = _other_answer(template, question, questions)
                    if other:
                        events += _second_opinion(
                            template, question, label, (sql, other), at
                        )
                        stats.corrections += 1
        events.append(
            _feedback(
                event_id, "outcome_metric", analyst, at, metric=score.execution_match
            )
        )
    results = ingest_events(events=events, acting_user=client, channel="api")
    failed = [r.as_dict() for r in results if r.status not in ("created", "duplicate")]
    if failed:
        raise RuntimeError(f"demo events were refused: {failed[:3]}")
    return stats


def _interaction(
    template: PromptTemplate,
    question: Question,
    session: str,
    label: Any,
    sql: str,
    score: ItemScore,
    at: str,
) -> dict[str, Any]:
    return {
        "kind": "interaction",
        "event_id": str(uuid.uuid4()),
        "session_id": session,
        "user_id": f"demo-user-{question.index % 7}",
        "analyst_id": "demo-analyst",
        "tenant_id": "demo",
        "task_type": "ad-hoc-sql",
        "question": question.question,
        "generated_sql": sql,
        "prompt_version": label.prompt_version_id,
        "model_version": label.model_version_id,
        "server_latency_ms": round(score.elapsed_ms),
        "outcome": _outcome(score),
        "consent_scope": "training",
        "occurred_at": at,
    }


def _feedback(
    interaction_id: str,
    kind: str,
    analyst: str,
    at: str,
    sql: str = "",
    metric: bool | None = None,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": "feedback",
        "event_id": str(uuid.uuid4()),
        "interaction_id": interaction_id,
        "type": kind,
        "submitter_id": analyst,
        "submitter_role": "analyst",
        "occurred_at": at,
    }
    if sql:
        event["corrected_sql"] = sql
    if metric is not None:
        event["metric_name"] = "answer_used"
        event["value"] = 1.0 if metric else 0.0
    return event


def _other_answer(
    template: PromptTemplate, question: Question, questions: Sequence[Question]
) -> str:
    """Another question's SQL whose result differs: a plausible wrong answer."""
    target = template.target_database
    expected = _digest(target, question.sql)
    for other in questions:
        digest = _digest(target, other.sql)
        if digest and digest != expected:
            return other.sql
    return ""


def _second_opinion(
    template: PromptTemplate,
    question: Question,
    label: Any,
    answers: tuple[str, str],
    at: str,
) -> list[dict[str, Any]]:
    """Another session asks the same question; a second analyst rejects the
    same wrong answer and corrects it to another wrong query."""
    generated, wrong_sql = answers
    again = {
        "kind": "interaction",
        "event_id": str(uuid.uuid4()),
        "session_id": f"demo-{template.name}-second-opinion",
        "user_id": "demo-user-second",
        "analyst_id": "demo-analyst-2",
        "tenant_id": "demo",
        "task_type": "ad-hoc-sql",
        "question": question.question,
        "generated_sql": generated,
        "prompt_version": label.prompt_version_id,
        "model_version": label.model_version_id,
        "outcome": "success",
        "consent_scope": "training",
        "occurred_at": at,
    }
    return [
        again,
        _feedback(again["event_id"], "thumbs_down", "demo-analyst-2", at),
        _feedback(again["event_id"], "correction", "demo-analyst-2", at, wrong_sql),
    ]


def work_review_queue(
    *,
    template: PromptTemplate,
    gold: dict[str, str],
    senior: User,
    adjudicator: User,
) -> ReviewStats:
    """Senior analysts decide every open correction of the template.

    `gold` maps a question to its right SQL. The first senior approves
    corrections that return the gold result, rejects the others with a reason
    and sends disagreements to adjudication, which the second senior decides.
    """
    stats = ReviewStats()
    open_items = ReviewItem.objects.filter(template=template, state="pending")
    review.check_review_items(item_ids=list(open_items.values_list("pk", flat=True)))
    # With a broker, a worker may have checked some items first; flagging is
    # idempotent, so every question is looked at before anyone claims.
    for database, question_hash in set(
        open_items.values_list("target_database_id", "question_hash")
    ):
        review.flag_disagreements(
            target_database_id=database, question_hash=question_hash
        )
    target = template.target_database
    for item in list_review_queue(state=ReviewItem.State.PENDING).filter(
        template=template
    ):
        if item.double_review:
            _blind(item, (senior, adjudicator), gold, target, stats)
            continue
        review.claim_review_item(item=item, acting_user=senior)
        if item.disagreement:
            review.escalate_review_item(
                item=item,
                acting_user=senior,
                reason="Two analysts corrected this question differently.",
            )
            continue
        _decide(item, senior, gold, target, stats)
    for item in ReviewItem.objects.filter(
        template=template, state=ReviewItem.State.ADJUDICATION
    ).select_related("interaction", "feedback"):
        _decide(item, adjudicator, gold, target, stats)
        stats.adjudicated += 1
    return stats


def _digest(target: Any, sql: str) -> str:
    try:
        return execute_on_target(target=target, sql=sql).digest
    except ExecutionFailed:
        return ""


def _right(item: ReviewItem, gold: dict[str, str], target: Any) -> bool:
    right = gold.get(item.interaction.question)
    expected = _digest(target, right) if right else ""
    submitted = item.feedback.corrected_sql if item.feedback else ""
    return bool(expected) and _digest(target, submitted) == expected


def _blind(
    item: ReviewItem,
    reviewers: tuple[User, User],
    gold: dict[str, str],
    target: Any,
    stats: ReviewStats,
) -> None:
    """Both senior analysts judge a double-reviewed item blind, by the gold."""
    verdict = "approve" if _right(item, gold, target) else "reject"
    for reviewer in reviewers:
        item = double_review.submit_verdict(
            item=item,
            acting_user=reviewer,
            verdict=verdict,
            reason="The correction does not return what the question asks for."
            if verdict == "reject"
            else "",
        )
    stats.double_reviewed += 1
    if item.state == ReviewItem.State.APPROVED:
        stats.approved += 1
    elif item.state == ReviewItem.State.REJECTED:
        stats.rejected += 1


def _decide(
    item: ReviewItem,
    reviewer: User,
    gold: dict[str, str],
    target: Any,
    stats: ReviewStats,
) -> None:
    if _right(item, gold, target):
        review.approve_review_item(item=item, acting_user=reviewer)
        stats.approved += 1
    else:
        review.reject_review_item(
            item=item,
            acting_user=reviewer,
            reason="The correction does not return what the question asks for.",
        )
        stats.rejected += 1
