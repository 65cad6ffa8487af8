"""Re-categorization of feedback by reviewers (the client's category arrives
with the event, see feedback.ingestion)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from feedback.categories import TAXONOMY_VERSION, topic_problem
from feedback.exceptions import FeedbackError, ReviewConflictError
from feedback.models import Feedback, FeedbackTopic
from feedback.redaction import redact


@transaction.atomic
def recategorize_feedback(
    *, feedback: Feedback, topic: str, acting_user: User, reason: str
) -> FeedbackTopic:
    """Assign a new category to explicit feedback, on record.

    For reviewers (`feedback.recategorize_feedback`). Appends a `FeedbackTopic`
    row (the earlier ones stay) and records `feedback.feedback.recategorized`
    with the previous category. The same category again is refused (409);
    the reason is required and redacted.
    """
    text = redact(reason.strip()).text
    if not text:
        raise FeedbackError("A reason is required.", field="reason")
    problem = topic_problem(feedback.type, topic)
    if problem:
        raise FeedbackError(problem, field="topic")
    # No row lock: SELECT ... FOR UPDATE needs the UPDATE privilege the runtime
    # role lacks on append-only tables. Two reviewers racing both get a row, in
    # order; the later one is current and the audit trail shows both.
    previous = feedback.topics.order_by("-created_at", "-id").first()
    if previous is not None and previous.topic == topic:
        raise ReviewConflictError(f"The feedback is already categorized {topic}.")
    row = FeedbackTopic.objects.create(
        feedback=feedback,
        topic=topic,
        taxonomy_version=TAXONOMY_VERSION,
        source=FeedbackTopic.Source.REVIEWER,
        previous_topic=previous.topic if previous else "",
        assigned_by=acting_user,
        reason=text,
        created_at=timezone.now(),
    )
    record_event(
        event_type="feedback.feedback.recategorized",
        actor=acting_user,
        subject=feedback,
        reason=text,
        data={
            "from": row.previous_topic or None,
            "to": topic,
            "taxonomy_version": TAXONOMY_VERSION,
        },
    )
    return row
