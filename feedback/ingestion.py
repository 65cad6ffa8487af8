"""Ingestion of interaction and feedback events: validate, redact, store once.

The event id is the idempotency key (it is the primary key). A replay with the
same payload fingerprint stores nothing and reports `duplicate`; the same id with
another payload stores nothing and reports `conflict`. Raw text never reaches the
database, a log line or a task payload: redaction and pseudonymization happen
here, before the first write.
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.utils import timezone

from feedback.events import FEEDBACK_CATEGORY, ROLE_WEIGHTS, Validator
from feedback.ingestion_items import (
    CONFLICT,
    CREATED,
    DUPLICATE,
    INVALID,
    ItemResult,
    Pending,
    Target,
    mark_stored,
    reject,
)
from feedback.ingestion_store import store_items, streams
from feedback.models import Feedback, Interaction
from feedback.redaction import pseudonymize, question_hash, redact
from feedback.rows import stored_fingerprints
from registry.selectors import known_versions
from targets.sqlgate import (
    SQLRejected,
    check_sql,
)

__all__ = [
    "CONFLICT",
    "CREATED",
    "DUPLICATE",
    "INVALID",
    "MAX_BATCH",
    "ItemResult",
    "cycle_collector_paused",
    "fingerprint",
    "ingest_events",
]

logger = logging.getLogger(__name__)

MAX_BATCH = 1_000
UNPROCESSABLE = "This event could not be processed; nothing of it was stored."


def _key() -> bytes:
    return settings.PSEUDONYM_KEY.encode()


# Fields added after events were first stored: left out of the fingerprint when
# absent, so an event stored before they existed still replays exactly.
LATER_FIELDS = frozenset({"input_tokens", "reported_model"})
# What json.dumps(..., sort_keys=True, default=str) writes, without building an
# encoder per event; validated payloads come from JSON, so they hold no cycles.
_FINGERPRINT_JSON = json.JSONEncoder(sort_keys=True, default=str, check_circular=False)


def fingerprint(kind: str, clean: dict[str, Any], *, key: bytes) -> str:
    """Keyed hash of the validated raw payload: tells replays from conflicts.

    Keyed, so the stored value cannot be brute-forced back to the raw text.
    """
    hashed = clean
    if absent := [name for name in LATER_FIELDS if clean.get(name, 0) in (None, "")]:
        hashed = clean.copy()
        for name in absent:
            del hashed[name]
    canonical = _FINGERPRINT_JSON.encode([kind, hashed])
    return hmac.digest(key, canonical.encode(), "sha256").hex()


def _dialect(engine: str) -> str:
    return "postgres" if engine == "postgresql" else "sqlite"


def _user_id(acting_user: Any) -> int | None:
    return acting_user.pk if getattr(acting_user, "is_authenticated", False) else None


def _flags(*found: Collection[str]) -> list[str]:
    if not any(found):
        # Most texts hold no PII: no set to build and sort.
        return []
    return sorted(set().union(*found))


@contextmanager
def cycle_collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, if it runs, for one batch (nests).

    A batch keeps a few dozen containers per event alive until it ends, so every
    collection during it promotes them, and the promotions set off full
    collections of the whole heap (a Django process holds some 300,000 objects):
    a fifth of a batch's time. Reference counting still frees the batch when it
    ends; cycles made meanwhile wait for the next collection after it. Another
    thread may resume collection early, which costs only speed.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


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
    with cycle_collector_paused():
        return _ingest(events, acting_user, channel, kind)


def _ingest(
    events: Sequence[Any],
    acting_user: User | AnonymousUser | None,
    channel: str,
    kind: str | None,
) -> list[ItemResult]:
    now = timezone.now()
    key = _key()
    validator = Validator(now=now)
    results: list[ItemResult] = []
    pending: dict[str, dict[str, Pending]] = {"interaction": {}, "feedback": {}}
    for index, raw in enumerate(events):
        try:
            event_kind, clean, errors = validator.validate(raw, kind=kind)
            clean.pop("kind", None)
            if not clean.get("topic"):
                # Absent, not empty: events stored before categories keep their
                # fingerprints, so their replays stay duplicates.
                clean.pop("topic", None)
            print_ = "" if errors else fingerprint(event_kind, clean, key=key)
        except Exception:
            # Whatever the cause, one event's failure is that event's result.
            logger.exception("event %d could not be validated", index)
            event_kind, clean, errors = "", {}, {"non_field_errors": [UNPROCESSABLE]}
        event_id: Any = clean.get("event_id")
        result = ItemResult(
            index, event_kind, str(event_id) if event_id else None, INVALID, errors
        )
        results.append(result)
        if errors:
            continue
        seen = pending[event_kind].get(event_id)
        if seen is not None:
            same = seen.fingerprint == print_
            result.status = DUPLICATE if same else CONFLICT
            if not same:
                result.errors = {"event_id": ["Repeated in this batch, other payload."]}
            continue
        pending[event_kind][event_id] = Pending(result, clean, print_)
    _settle_existing(pending)
    # Rows are built as they are stored: on PostgreSQL each goes into the COPY
    # as soon as it is built, so the server parses while the next is built.
    store_items(
        interactions=_build_interactions(
            pending["interaction"], now, acting_user, channel, key
        ),
        feedback=lambda: _build_feedback(pending, now, acting_user, channel, key),
        stream_interactions=streams(len(pending["interaction"])),
        stream_feedback=streams(len(pending["feedback"])),
    )
    created = sum(r.status == CREATED for r in results)
    logger.info("ingested %d events: %d created", len(results), created)
    return results


def _settle_existing(pending: dict[str, dict[str, Pending]]) -> None:
    for event_kind, model in (("interaction", Interaction), ("feedback", Feedback)):
        items = pending[event_kind]
        if not items:
            continue
        for pk, stored_print in stored_fingerprints(model, items.keys()):
            mark_stored(items.pop(pk), stored_print)


def _each(
    items: dict[str, Pending], build: Callable[[str, Pending], None]
) -> Iterator[Pending]:
    """Build each item's row and yield the item; one that fails or is rejected
    leaves ``items`` and is not yielded."""
    for event_id, item in list(items.items()):
        try:
            build(event_id, item)
        except Exception:
            # Whatever the cause, one event's failure is that event's result.
            logger.exception("event %s could not be built", event_id)
            reject(item, "non_field_errors", UNPROCESSABLE)
        if item.result.errors:
            del items[event_id]
        else:
            yield item


def _build_interactions(
    items: dict[str, Pending],
    now: datetime,
    acting_user: Any,
    channel: str,
    key: bytes,
) -> Iterable[Pending]:
    """Query what building needs now; the rows are built as the result is read."""
    if not items:
        return ()
    known = known_versions(
        prompt_versions={i.clean["prompt_version"] for i in items.values()},
        model_versions={i.clean["model_version"] for i in items.values()},
    )
    prompts, models = known.prompts, known.models
    user_id = _user_id(acting_user)

    def build(event_id: str, item: Pending) -> None:
        c = item.clean
        if c["prompt_version"] not in prompts:
            reject(item, "prompt_version", "Unknown prompt version id.")
        elif c["model_version"] not in models:
            reject(item, "model_version", "Unknown model version id.")
        if item.result.errors:
            return
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
            template_id=prompts[c["prompt_version"]][0],
            prompt_version_id=c["prompt_version"],
            model_version_id=c["model_version"],
            retrieval_ids=c["retrieval_ids"],
            knowledge_version=c["knowledge_version"],
            output_tokens=c["output_tokens"],
            input_tokens=c["input_tokens"],
            reported_model=c["reported_model"] or None,
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
        item.result.template_name = prompts[c["prompt_version"]][1]

    return _each(items, build)


def _targets(pending: dict[str, dict[str, Pending]]) -> dict[str, Target]:
    wanted = {i.clean["interaction_id"] for i in pending["feedback"].values()}
    if not wanted:
        return {}
    new = pending["interaction"]
    targets: dict[str, Target] = {}
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
        # The values_list columns are Target's fields, in order.
        targets[str(pk)] = Target(*rest)  # type: ignore[arg-type]
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
            targets[row["event_id"]] = Target(
                row["consent_scope"],
                row["template_id"],
                row["task_type"],
                row["question_hash"],
                db,
                engine,
            )
    return targets


def _build_feedback(
    pending: dict[str, dict[str, Pending]],
    now: datetime,
    acting_user: Any,
    channel: str,
    key: bytes,
) -> Iterable[Pending]:
    """Query what building needs now (interaction rows of this batch are built);
    the rows are built as the result is read."""
    items = pending["feedback"]
    if not items:
        return ()
    targets = _targets(pending)
    user_id = _user_id(acting_user)

    def build(event_id: str, item: Pending) -> None:
        c = item.clean
        target = targets.get(c["interaction_id"])
        if target is None:
            reject(item, "interaction_id", "Unknown interaction; send it first.")
        elif c["corrected_sql"]:
            try:
                check_sql(c["corrected_sql"], dialect=_dialect(target.engine))
            except SQLRejected as exc:
                # The parser may quote the input back: redact before replying.
                message = redact(f"Not a valid read-only query: {exc.reason}").text
                reject(item, "corrected_sql", message)
        if item.result.errors:
            return
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
        item.result.topic = c.get("topic") or None

    return _each(items, build)
