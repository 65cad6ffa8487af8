"""The last step of ingestion: insert the built rows, one bad row costing no other.

A batch is inserted in one statement per kind. When that fails, rows go one by
one, each in its own savepoint: an id stored meanwhile is a replay or a conflict,
and a row the database refuses for any other reason makes only that event
`invalid`. Feedback whose interaction (sent in the same batch) could not be
stored is not inserted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from django.db import DatabaseError, IntegrityError, connection, transaction
from simple_history.utils import bulk_create_with_history

from feedback import rows as feedback_rows
from feedback.categories import TAXONOMY_VERSION
from feedback.draws import drawn_for_double_review
from feedback.ingestion_items import CREATED, Pending, mark_stored, reject
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from feedback.rows import insert_rows

logger = logging.getLogger(__name__)

UNSTORABLE = "The database refused this event; nothing of it was stored."


# bench.ingest turns this off on alternate batches to compare with COPY of rows
# built beforehand, under the same load.
STREAMED = True


def streams(count: int) -> bool:
    """Whether `count` events of one kind are built straight into a COPY.

    `count` is before building, an upper bound: a COPY may end up with one row.
    """
    return (
        STREAMED
        and connection.vendor == "postgresql"
        and count >= feedback_rows.COPY_MIN_ROWS
    )


def store_items(
    *,
    interactions: Iterable[Pending],
    feedback: Callable[[], Iterable[Pending]],
    stream_interactions: bool = False,
    stream_feedback: bool = False,
) -> None:
    """Insert rows as `interactions` and then `feedback()` build them; mark each
    item created, duplicate, conflict or invalid.

    `feedback` is called once the interactions are stored (their rows are then
    built). Streamed kinds (PostgreSQL, see `streams`) go into a COPY row by row
    as they are built, in one transaction; a refused COPY is rolled back whole
    and its rows go again one by one. Review items are created for stored
    corrections, and their check task is enqueued after commit.
    """
    if stream_interactions or stream_feedback:
        with transaction.atomic():
            _store(
                interactions if stream_interactions else list(interactions),
                feedback,
                stream_feedback=stream_feedback,
            )
        return
    built_interactions, built_feedback = list(interactions), list(feedback())
    if not built_interactions and not built_feedback:
        return
    # One INSERT needs no enclosing transaction (and its savepoint round trips):
    # the single-event endpoints are the common case.
    with (
        nullcontext()
        if _one_insert(built_interactions, built_feedback)
        else transaction.atomic()
    ):
        _store(built_interactions, lambda: built_feedback, stream_feedback=False)


def _store(
    interactions: Iterable[Pending],
    feedback: Callable[[], Iterable[Pending]],
    *,
    stream_feedback: bool,
) -> None:
    built, stored = _insert(interactions, Interaction)
    for item in stored:
        _created(item)
    lost = {i.row["event_id"] for i in built} - {i.row["event_id"] for i in stored}  # type: ignore[index]

    # Called before the COPY starts: it queries what building the rows needs.
    candidates = feedback()

    def insertable() -> Iterator[Pending]:
        for item in candidates:
            if item.clean["interaction_id"] in lost:
                reject(item, "interaction_id", "Its interaction could not be stored.")
            else:
                yield item

    group = insertable()
    _, inserted_feedback = _insert(group if stream_feedback else list(group), Feedback)
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


def _insert(
    group: Iterable[Pending], model: type[Interaction | Feedback]
) -> tuple[list[Pending], list[Pending]]:
    """Insert the rows of `group`, all at once (a list) or by COPY as it yields
    them; return the items built and those whose row this call stored."""
    if isinstance(group, list):
        built = group
        if not built:
            return [], []
        try:
            with _statement_scope(len(built)):
                insert_rows(model, [item.row for item in built])
            return built, built
        except (DatabaseError, ValueError, OverflowError):
            # An id stored meanwhile, or one row the database refuses: row by row.
            return built, _insert_one_by_one(built, model)
    pending, built = iter(group), []

    def source() -> Iterator[dict[str, Any]]:
        for item in pending:
            built.append(item)
            yield item.row  # type: ignore[misc]

    try:
        with transaction.atomic():
            insert_rows(model, source())
        return built, built
    except (DatabaseError, ValueError, OverflowError):
        # The COPY is rolled back whole: build the rows not sent yet, then go
        # row by row as above.
        built.extend(pending)
    return built, _insert_one_by_one(built, model)


def _insert_one_by_one(
    group: list[Pending], model: type[Interaction | Feedback]
) -> list[Pending]:
    """Insert rows each in a savepoint; return the items whose row was stored."""
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
