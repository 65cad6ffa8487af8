"""The last step of ingestion: insert the built rows, one bad row costing no other.

A batch is inserted in one statement per kind. When that fails, rows go one by
one, each in its own savepoint: an id stored meanwhile is a replay or a conflict,
and a row the database refuses for any other reason makes only that event
`invalid`. Feedback whose interaction (sent in the same batch) could not be
stored is not inserted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from simple_history.utils import bulk_create_with_history

from feedback.categories import TAXONOMY_VERSION
from feedback.draws import drawn_for_double_review
from feedback.ingestion_items import CREATED, Pending, mark_stored, reject
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from feedback.rows import insert_rows

logger = logging.getLogger(__name__)

UNSTORABLE = "The database refused this event; nothing of it was stored."


def store_items(*, interactions: list[Pending], feedback: list[Pending]) -> None:
    """Insert built rows; mark each item created, duplicate, conflict or invalid.

    Review items are created for stored corrections, and their check task is
    enqueued after commit.
    """
    if not interactions and not feedback:
        return
    # One INSERT needs no enclosing transaction (and its savepoint round trips):
    # the single-event endpoints are the common case.
    with nullcontext() if _one_insert(interactions, feedback) else transaction.atomic():
        stored = {item.row["event_id"] for item in _insert(interactions, Interaction)}  # type: ignore[index]
        lost = {i.row["event_id"] for i in interactions} - stored  # type: ignore[index]
        insertable = []
        for item in feedback:
            if item.clean["interaction_id"] in lost:
                reject(item, "interaction_id", "Its interaction could not be stored.")
            else:
                insertable.append(item)
        for item in interactions:
            if item.row["event_id"] in stored:  # type: ignore[index]
                _created(item)
        inserted_feedback = _insert(insertable, Feedback)
        for item in inserted_feedback:
            _created(item)
        _store_topics(inserted_feedback)
        reviews = _review_items(inserted_feedback)
        if reviews:
            reviews = bulk_create_with_history(reviews, ReviewItem)
            ids = [review.pk for review in reviews]
            # Imported here: tasks import the review services, which import models.
            from feedback.tasks import check_review_items

            check_review_items.delay_on_commit(ids)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask


def _one_insert(interactions: list[Pending], feedback: list[Pending]) -> bool:
    """Whether storing these events is one INSERT and nothing else."""
    if len(interactions) + len(feedback) != 1:
        return False
    if interactions:
        return True
    item = feedback[0]
    assert item.row is not None  # noqa: S101 (built above)
    return not item.clean.get("topic") and item.row["type"] != Feedback.Type.CORRECTION


def _created(item: Pending) -> None:
    item.result.status = CREATED
    item.result.row = item.row


def _store_topics(stored: Iterable[Pending]) -> None:
    topics = [
        FeedbackTopic(
            feedback_id=item.row["event_id"],
            topic=item.clean["topic"],
            taxonomy_version=TAXONOMY_VERSION,
            source=FeedbackTopic.Source.CLIENT,
            assigned_by_id=item.row["submitted_by_id"],
            created_at=item.row["received_at"],
        )
        for item in stored
        if item.row is not None and item.clean.get("topic")
    ]
    if topics:
        FeedbackTopic.objects.bulk_create(topics)


def _review_items(stored: Iterable[Pending]) -> list[ReviewItem]:
    items = []
    for item in stored:
        row, target = item.row, item.target
        assert row is not None and target is not None  # noqa: S101 (built above)
        if row["type"] != Feedback.Type.CORRECTION or target.consent_scope == (
            Interaction.ConsentScope.SERVICE_ONLY
        ):
            continue
        items.append(
            ReviewItem(
                feedback_id=row["event_id"],
                interaction_id=row["interaction_id"],
                template_id=target.template_id,
                target_database_id=target.target_database_id,
                task_type=target.task_type,
                question_hash=target.question_hash,
                weight=row["weight"],
                double_review=drawn_for_double_review(row["event_id"]),
            )
        )
    return items


def _statement_scope(rows: int) -> AbstractContextManager[Any]:
    """A savepoint, unless this is one single-row INSERT in autocommit mode.

    Inside a transaction a refused row must not break it, hence the savepoint; a
    lone INSERT outside one is atomic by itself and needs no BEGIN and COMMIT.
    """
    if rows == 1 and not transaction.get_connection().in_atomic_block:
        return nullcontext()
    return transaction.atomic()


def _insert(group: list[Pending], model: type[Interaction | Feedback]) -> list[Pending]:
    """Insert rows; return the items whose row this call stored."""
    if not group:
        return []
    try:
        with _statement_scope(len(group)):
            insert_rows(model, [item.row for item in group])  # type: ignore[misc]
        return group
    except (DatabaseError, ValueError, OverflowError):
        # An id stored meanwhile, or one row the database refuses: row by row.
        pass
    stored = []
    for item in group:
        assert item.row is not None  # noqa: S101 (built above)
        try:
            with transaction.atomic():
                insert_rows(model, [item.row])
            stored.append(item)
        except IntegrityError:
            existing = (
                model.objects.filter(pk=item.row["event_id"])
                .values_list("fingerprint", flat=True)
                .first()
            )
            if existing is None:
                logger.warning("event %s refused by the database", item.row["event_id"])
                reject(item, "non_field_errors", UNSTORABLE)
            else:
                mark_stored(item, existing)
        except (DatabaseError, ValueError, OverflowError) as exc:
            logger.warning(
                "event %s refused by the database: %s",
                item.row["event_id"],
                type(exc).__name__,
            )
            reject(item, "non_field_errors", UNSTORABLE)
    return stored
