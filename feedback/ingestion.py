"""Ingestion of interaction and feedback events: validate, redact, store once.

The event id is the idempotency key (it is the primary key). A replay with the
same payload fingerprint stores nothing and reports `duplicate`; the same id with
another payload stores nothing and reports `conflict`. Raw text never reaches the
database, a log line or a task payload: redaction and pseudonymization happen
here, before the first write.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import IntegrityError, transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from feedback.categories import TAXONOMY_VERSION
from feedback.events import FEEDBACK_CATEGORY, ROLE_WEIGHTS, Validator
from feedback.models import Feedback, FeedbackTopic, Interaction, ReviewItem
from feedback.redaction import pseudonymize, question_hash, redact
from feedback.rows import insert_rows
from registry.models import ModelVersion, PromptVersion
from targets.sqlgate import (
    SQLRejected,
    check_sql,
)

logger = logging.getLogger(__name__)

MAX_BATCH = 1_000
CREATED, DUPLICATE, INVALID, CONFLICT = "created", "duplicate", "invalid", "conflict"


@dataclass(slots=True)
class ItemResult:
    """What happened to one submitted event."""

    index: int
    kind: str
    event_id: str | None
    status: str
    errors: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "index": self.index,
            "kind": self.kind,
            "event_id": self.event_id,
            "status": self.status,
        }
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass(frozen=True, slots=True)
class _Target:
    consent_scope: str
    template_id: int
    task_type: str
    question_hash: str
    target_database_id: int
    engine: str


@dataclass(slots=True)
class _Pending:
    result: ItemResult
    clean: dict[str, Any]
    fingerprint: str
    # Column values by attname, ready for feedback.rows.insert_rows.
    row: dict[str, Any] | None = None
    target: _Target | None = None


def _key() -> bytes:
    return settings.PSEUDONYM_KEY.encode()


def fingerprint(kind: str, clean: dict[str, Any], *, key: bytes) -> str:
    """Keyed hash of the validated raw payload: tells replays from conflicts.

    Keyed, so the stored value cannot be brute-forced back to the raw text.
    """
    canonical = json.dumps([kind, clean], sort_keys=True, default=str)
    return hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()


def _dialect(engine: str) -> str:
    return "postgres" if engine == "postgresql" else "sqlite"


def _user_id(acting_user: Any) -> int | None:
    return acting_user.pk if getattr(acting_user, "is_authenticated", False) else None


def _flags(*found: Iterable[str]) -> list[str]:
    return sorted(set().union(*found))


def ingest_events(
    *,
    events: Sequence[Any],
    acting_user: User | AnonymousUser | None,
    channel: str,
    kind: str | None = None,
) -> list[ItemResult]:
    """Validate, redact and store events; return one result per event, in order.

    Valid events are stored even when others fail. Replays store nothing.
    Concurrent submissions of one id store exactly one row (unique primary key,
    fallback to per-row savepoints). Corrections on interactions whose consent
    allows improvement become pending review items; their SQL is checked by the
    `feedback.check_review_items` task after commit.
    """
    now = timezone.now()
    key = _key()
    validator = Validator(now=now)
    results: list[ItemResult] = []
    pending: dict[str, dict[uuid.UUID, _Pending]] = {"interaction": {}, "feedback": {}}
    for index, raw in enumerate(events):
        event_kind, clean, errors = validator.validate(raw, kind=kind)
        event_id: Any = clean.get("event_id")
        result = ItemResult(
            index, event_kind, str(event_id) if event_id else None, INVALID, errors
        )
        results.append(result)
        if errors:
            continue
        clean.pop("kind", None)
        if not clean.get("topic"):
            # Absent, not empty: events stored before categories keep their prints.
            clean.pop("topic", None)
        print_ = fingerprint(event_kind, clean, key=key)
        seen = pending[event_kind].get(event_id)
        if seen is not None:
            same = seen.fingerprint == print_
            result.status = DUPLICATE if same else CONFLICT
            if not same:
                result.errors = {"event_id": ["Repeated in this batch, other payload."]}
            continue
        pending[event_kind][event_id] = _Pending(result, clean, print_)
    _settle_existing(pending)
    _build_interactions(pending["interaction"], now, acting_user, channel, key)
    _build_feedback(pending, now, acting_user, channel, key)
    _store(pending)
    created = sum(r.status == CREATED for r in results)
    logger.info("ingested %d events: %d created", len(results), created)
    return results


def _settle_existing(pending: dict[str, dict[uuid.UUID, _Pending]]) -> None:
    for event_kind, model in (("interaction", Interaction), ("feedback", Feedback)):
        items = pending[event_kind]
        if not items:
            continue
        stored = model.objects.filter(pk__in=list(items)).values_list(
            "pk", "fingerprint"
        )
        for pk, stored_print in stored:
            _mark_stored(items.pop(pk), stored_print)


def _mark_stored(item: _Pending, stored_print: str) -> None:
    if stored_print == item.fingerprint:
        item.result.status = DUPLICATE
    else:
        item.result.status = CONFLICT
        item.result.errors = {
            "event_id": ["This event id was already stored with another payload."]
        }


def _reject(item: _Pending, name: str, message: str) -> None:
    item.result.errors = {name: [message]}


def _build_interactions(
    items: dict[uuid.UUID, _Pending],
    now: datetime,
    acting_user: Any,
    channel: str,
    key: bytes,
) -> None:
    if not items:
        return
    prompts = dict(
        PromptVersion.objects.filter(
            pk__in={i.clean["prompt_version"] for i in items.values()}
        ).values_list("pk", "template_id")
    )
    models = set(
        ModelVersion.objects.filter(
            pk__in={i.clean["model_version"] for i in items.values()}
        ).values_list("pk", flat=True)
    )
    user_id = _user_id(acting_user)
    for event_id, item in list(items.items()):
        c = item.clean
        if c["prompt_version"] not in prompts:
            _reject(item, "prompt_version", "Unknown prompt version id.")
        elif c["model_version"] not in models:
            _reject(item, "model_version", "Unknown model version id.")
        if item.result.errors:
            del items[event_id]
            continue
        question, sql = redact(c["question"]), redact(c["generated_sql"])
        item.row = dict(
            event_id=event_id,
            fingerprint=item.fingerprint,
            trace_id=c["trace_id"],
            session_id=c["session_id"],
            user_pseudonym=pseudonymize(c["user_id"], key=key),
            analyst_pseudonym=(
                pseudonymize(c["analyst_id"], key=key) if c["analyst_id"] else ""
            ),
            tenant_id=c["tenant_id"],
            task_type=c["task_type"],
            question=question.text,
            question_hash=question_hash(c["question"], key=key),
            generated_sql=sql.text,
            template_id=prompts[c["prompt_version"]],
            prompt_version_id=c["prompt_version"],
            model_version_id=c["model_version"],
            retrieval_ids=c["retrieval_ids"],
            knowledge_version=c["knowledge_version"],
            output_tokens=c["output_tokens"],
            client_latency_ms=c["client_latency_ms"],
            server_latency_ms=c["server_latency_ms"],
            outcome=c["outcome"],
            country=c["country"],
            consent_scope=c["consent_scope"],
            redaction_flags=_flags(question.found, sql.found),
            channel=channel,
            submitted_by_id=user_id,
            occurred_at=c["occurred_at"],
            received_at=now,
        )


def _targets(pending: dict[str, dict[uuid.UUID, _Pending]]) -> dict[uuid.UUID, _Target]:
    wanted = {i.clean["interaction_id"] for i in pending["feedback"].values()}
    if not wanted:
        return {}
    new = pending["interaction"]
    targets: dict[uuid.UUID, _Target] = {}
    stored = Interaction.objects.filter(pk__in=wanted - new.keys()).values_list(
        "pk",
        "consent_scope",
        "template_id",
        "task_type",
        "question_hash",
        "template__target_database_id",
        "template__target_database__engine",
    )
    for pk, *rest in stored:
        # The values_list columns are _Target's fields, in order.
        targets[pk] = _Target(*rest)  # type: ignore[arg-type]
    # Interactions of this batch have their rows built before feedback.
    in_batch: list[dict[str, Any]] = [new[pk].row for pk in wanted & new.keys()]  # type: ignore[misc]
    if in_batch:
        from registry.models import PromptTemplate

        databases = {
            pk: (db, engine)
            for pk, db, engine in PromptTemplate.objects.filter(
                pk__in={row["template_id"] for row in in_batch}
            ).values_list("pk", "target_database_id", "target_database__engine")
        }
        for row in in_batch:
            db, engine = databases[row["template_id"]]
            targets[row["event_id"]] = _Target(
                row["consent_scope"],
                row["template_id"],
                row["task_type"],
                row["question_hash"],
                db,
                engine,
            )
    return targets


def _build_feedback(
    pending: dict[str, dict[uuid.UUID, _Pending]],
    now: datetime,
    acting_user: Any,
    channel: str,
    key: bytes,
) -> None:
    items = pending["feedback"]
    if not items:
        return
    targets = _targets(pending)
    user_id = _user_id(acting_user)
    for event_id, item in list(items.items()):
        c = item.clean
        target = targets.get(c["interaction_id"])
        if target is None:
            _reject(item, "interaction_id", "Unknown interaction; send it first.")
        elif c["corrected_sql"]:
            try:
                check_sql(c["corrected_sql"], dialect=_dialect(target.engine))
            except SQLRejected as exc:
                # The parser may quote the input back: redact before replying.
                message = redact(f"Not a valid read-only query: {exc.reason}").text
                _reject(item, "corrected_sql", message)
        if item.result.errors:
            del items[event_id]
            continue
        comment, sql = redact(c["comment"]), redact(c["corrected_sql"])
        role = c["submitter_role"]
        item.row = dict(
            event_id=event_id,
            fingerprint=item.fingerprint,
            interaction_id=c["interaction_id"],
            type=c["type"],
            category=FEEDBACK_CATEGORY[c["type"]],
            comment=comment.text,
            corrected_sql=sql.text,
            metric_name=c["metric_name"],
            value=c["value"],
            submitter_pseudonym=(
                pseudonymize(c["submitter_id"], key=key) if c["submitter_id"] else ""
            ),
            submitter_role=role,
            weight=ROLE_WEIGHTS[role],
            redaction_flags=_flags(comment.found, sql.found),
            channel=channel,
            submitted_by_id=user_id,
            occurred_at=c["occurred_at"],
            received_at=now,
        )
        item.target = target


def _review_items(stored: Iterable[_Pending]) -> list[ReviewItem]:
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
            )
        )
    return items


def _store_topics(stored: Iterable[_Pending]) -> None:
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


def _store(pending: dict[str, dict[uuid.UUID, _Pending]]) -> None:
    interactions = [i for i in pending["interaction"].values() if i.row is not None]
    feedback = [i for i in pending["feedback"].values() if i.row is not None]
    if not interactions and not feedback:
        return
    with transaction.atomic():
        inserted_feedback: list[_Pending] = []
        for group, model in ((interactions, Interaction), (feedback, Feedback)):
            for item in _insert(group, model):
                item.result.status = CREATED
                if model is Feedback:
                    inserted_feedback.append(item)
        _store_topics(inserted_feedback)
        reviews = _review_items(inserted_feedback)
        if reviews:
            reviews = bulk_create_with_history(reviews, ReviewItem)
            ids = [review.pk for review in reviews]
            # Imported here: tasks import the review services, which import models.
            from feedback.tasks import check_review_items

            check_review_items.delay_on_commit(ids)  # type: ignore[attr-defined]  # Celery makes Django-app tasks DjangoTask


def _insert(
    group: list[_Pending], model: type[Interaction | Feedback]
) -> list[_Pending]:
    """Insert rows; return the items whose row this call stored."""
    if not group:
        return []
    try:
        with transaction.atomic():
            insert_rows(model, [item.row for item in group])  # type: ignore[misc]
        return group
    except IntegrityError:
        # Another request stored some of these ids meanwhile: go row by row.
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
                raise
            _mark_stored(item, existing)
    return stored
