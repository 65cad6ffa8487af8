"""Evaluation writes with business meaning."""

from collections.abc import Collection, Iterable
from typing import Any
from uuid import UUID

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from audit.services import record_event
from evaluation.exceptions import GoldenSetError
from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
    SnapshotItem,
)
from evaluation.safety import EXPECTATIONS
from evaluation.selectors import list_golden_examples
from evaluation.spider import hardness
from registry.content import content_hash
from targets.exceptions import GoldUnrunnable
from targets.execution import VerifiedGold, verify_gold
from targets.models import TargetDatabase


@transaction.atomic
def add_golden_example(
    *,
    target_database: TargetDatabase,
    question: str,
    sql: str,
    source: str,
    acting_user: User | None,
    domain: str = "",
    difficulty: str = GoldenExample.Difficulty.UNKNOWN,
    tags: list[str] | None = None,
    owner: User | None = None,
    external_id: str = "",
    source_interaction_id: UUID | None = None,
    source_feedback_id: UUID | None = None,
    approved_by: User | None = None,
    error_taxonomy: dict[str, Any] | None = None,
    verified: VerifiedGold | None = None,
    original_sql: str = "",
    original_dialect: str = "",
    transpiled_with: str = "",
    kind: str = GoldenExample.Kind.REGULAR,
    expect: str = "",
) -> GoldenExample:
    """Add a golden example; the only writer of new golden rows.

    A safety example (`kind="safety"`) names what a safe reply is (`expect`:
    refuse or answer_safely); its SQL is optional, and empty when it must be
    refused.

    Callers: the review queue (source=review, with provenance and approver),
    imports (source=import, idempotent through `external_id`: an existing id
    returns the stored row unchanged) and people (source=manual). The SQL must
    run on the target (`targets.execution.verify_gold`); a caller that has just
    verified it passes the proof as `verified` so it does not run twice. A gold
    transpiled from another engine keeps the SQL as written, its dialect and the
    sqlglot version (`original_*`, `transpiled_with`).
    Raises GoldUnrunnable (field ``sql``) otherwise. Records
    `evaluation.golden_example.added`.
    """
    if source not in GoldenExample.Source.values:
        raise GoldenSetError(f"Unknown source {source!r}.", field="source")
    if difficulty not in GoldenExample.Difficulty.values:
        raise GoldenSetError(f"Unknown difficulty {difficulty!r}.", field="difficulty")
    if not question.strip():
        raise GoldenSetError("A question is required.", field="question")
    check_kind(kind=kind, expect=expect, sql=sql)
    if external_id:
        existing = GoldenExample.objects.filter(external_id=external_id).first()
        if existing is not None:
            return existing
    # A refusal has no SQL; a safety item's safe answer runs like any gold.
    needs_run = kind == GoldenExample.Kind.REGULAR or bool(sql.strip())
    if needs_run and (verified is None or not verified.covers(target_database, sql)):
        verify_gold(target_database, sql)
    example = GoldenExample.objects.create(
        target_database=target_database,
        question=question.strip(),
        sql=sql.strip(),
        domain=domain or target_database.name,
        difficulty=difficulty,
        tags=tags or [],
        owner=owner,
        source=source,
        external_id=external_id,
        source_interaction_id=source_interaction_id,
        source_feedback_id=source_feedback_id,
        approved_by=approved_by,
        error_taxonomy=error_taxonomy or {},
        original_sql=original_sql,
        original_dialect=original_dialect,
        transpiled_with=transpiled_with,
        kind=kind,
        expect=expect,
        approved_at=timezone.now() if approved_by is not None else None,
    )
    record_event(
        event_type="evaluation.golden_example.added",
        actor=acting_user,
        subject=example,
        data={
            "source": source,
            "target_database": target_database.name,
            "source_feedback_id": str(source_feedback_id or ""),
            **({"transpiled_from": original_dialect} if original_dialect else {}),
            "kind": kind,
            "expect": expect,
        },
    )
    return example


def check_kind(*, kind: str, expect: str, sql: str) -> None:
    """Raise GoldenSetError (naming kind, expect or sql) unless the three agree:
    a regular example has SQL and no expectation; a safety one expects refuse
    (and has no SQL) or answer_safely."""
    if kind not in GoldenExample.Kind.values:
        raise GoldenSetError(f"Unknown kind {kind!r}.", field="kind")
    if kind == GoldenExample.Kind.REGULAR:
        if expect:
            raise GoldenSetError(
                "Only safety examples have an expectation.", field="expect"
            )
        if not sql.strip():
            raise GoldenSetError("An expected SQL is required.", field="sql")
        return
    if expect not in EXPECTATIONS:
        raise GoldenSetError(
            f"A safety example expects one of {', '.join(EXPECTATIONS)}.",
            field="expect",
        )
    if expect == GoldenExample.Expect.REFUSE and sql.strip():
        raise GoldenSetError(
            "A question that must be refused has no expected SQL.", field="sql"
        )


def check_manual_sql(*, target_database: TargetDatabase, sql: str) -> VerifiedGold:
    """Raise GoldenSetError (field ``sql``) unless ``sql`` is a usable answer.

    It must run on the target with its whole result (`verify_gold`); the proof
    returned lets `add_golden_example` skip a second execution.
    """
    if not sql.strip():
        raise GoldenSetError("An expected SQL is required.", field="sql")
    try:
        return verify_gold(target_database, sql)
    except GoldUnrunnable as exc:
        raise GoldenSetError(exc.message, field="sql") from None


def add_manual_golden_example(
    *,
    target_database: TargetDatabase,
    question: str,
    sql: str,
    acting_user: User,
    domain: str = "",
    difficulty: str | None = None,
    tags: list[str] | None = None,
    owner: User | None = None,
    kind: str = GoldenExample.Kind.REGULAR,
    expect: str = "",
) -> GoldenExample:
    """Add a golden example entered by a person, after checking its SQL runs.

    The SQL must pass the gate and execute on the target (outside the write
    transaction: a slow query holds no lock); a safety example's SQL is
    optional (a safe answer, checked the same way when given). Without a
    difficulty, the Spider hardness of the SQL is used. The owner defaults to
    the acting user. Records `evaluation.golden_example.added` through
    `add_golden_example`.
    """
    verified = (
        check_manual_sql(target_database=target_database, sql=sql)
        if kind != GoldenExample.Kind.SAFETY or sql.strip()
        else None
    )
    if difficulty is None:
        try:
            difficulty = hardness(sql, dialect=target_database.dialect)
        except ValueError:
            difficulty = GoldenExample.Difficulty.UNKNOWN
    return add_golden_example(
        target_database=target_database,
        question=question,
        sql=sql,
        source=GoldenExample.Source.MANUAL,
        acting_user=acting_user,
        domain=domain,
        difficulty=difficulty,
        tags=tags,
        owner=owner or acting_user,
        verified=verified,
        kind=kind,
        expect=expect,
    )


@transaction.atomic
def retire_golden_example(
    *, example: GoldenExample, reason: str, acting_user: User | None
) -> GoldenExample:
    """Retire a golden example; it is never deleted.

    Records `evaluation.golden_example.retired`.
    """
    example = GoldenExample.objects.select_for_update().get(pk=example.pk)
    if example.retired_at is not None:
        raise GoldenSetError("This golden example is already retired.")
    if not reason.strip():
        raise GoldenSetError("Retiring needs a reason.", field="reason")
    example.retired_at = timezone.now()
    example.retired_by = acting_user
    example.retire_reason = reason
    example.save(update_fields=["retired_at", "retired_by", "retire_reason"])
    record_event(
        event_type="evaluation.golden_example.retired",
        actor=acting_user,
        subject=example,
        reason=reason,
    )
    return example


def snapshot_content_hash(examples: Iterable[GoldenExample]) -> str:
    """Hash what a snapshot means: each example's id, database, question and SQL."""
    content = sorted(
        (e.pk, e.target_database.name, e.question, e.sql) for e in examples
    )
    return content_hash({"examples": content})


def _require_runnable(
    examples: Iterable[GoldenExample], *, verified_ids: set[int]
) -> None:
    failures = []
    for example in examples:
        if example.pk in verified_ids or not example.sql.strip():
            continue  # verified just now, or a safety question to be refused
        try:
            verify_gold(example.target_database, example.sql)
        except GoldUnrunnable as exc:
            failures.append(f"#{example.pk}: {exc.message}")
    if failures:
        raise GoldenSetError(
            f"{len(failures)} golden examples do not run on their target; retire "
            f"or replace them first. {' | '.join(failures[:10])}",
            field="examples",
        )


@transaction.atomic
def create_snapshot(
    *,
    name: str,
    examples: Iterable[GoldenExample],
    acting_user: User | None,
    verified_ids: Collection[int] = (),
) -> GoldenSetSnapshot:
    """Freeze a list of golden examples into an immutable, content-hashed snapshot.

    Idempotent: the same content returns the existing snapshot. Retired examples
    are refused, and so is a new snapshot holding an example whose SQL no longer
    runs on its target (each is run, except `verified_ids` a caller has just
    verified). Records `evaluation.snapshot.created`.
    """
    chosen = list(examples)
    if not chosen:
        raise GoldenSetError("A snapshot needs at least one example.", field="examples")
    retired = [e.pk for e in chosen if e.retired_at is not None]
    if retired:
        raise GoldenSetError(
            f"Retired examples cannot enter a snapshot: {retired[:10]}.",
            field="examples",
        )
    kinds = {e.kind for e in chosen}
    if len(kinds) > 1:
        raise GoldenSetError(
            "A snapshot holds regular or safety examples, not both: a safety "
            "suite is scored by other rules.",
            field="examples",
        )
    digest = snapshot_content_hash(chosen)
    existing = GoldenSetSnapshot.objects.filter(content_hash=digest).first()
    if existing is not None:
        return existing
    _require_runnable(chosen, verified_ids=set(verified_ids))
    snapshot = GoldenSetSnapshot.objects.create(
        name=name,
        content_hash=digest,
        example_count=len(chosen),
        created_by=acting_user,
    )
    SnapshotItem.objects.bulk_create(
        SnapshotItem(snapshot=snapshot, golden_example=e) for e in chosen
    )
    record_event(
        event_type="evaluation.snapshot.created",
        actor=acting_user,
        subject=snapshot,
        data={"examples": len(chosen), "hash": digest},
    )
    return snapshot


def create_snapshot_from_selection(
    *,
    name: str,
    acting_user: User | None,
    example_ids: list[int] | None = None,
    filters: dict[str, Any] | None = None,
) -> GoldenSetSnapshot:
    """Snapshot explicit golden example ids, or every active example matching filters.

    `filters` takes the keywords of `selectors.list_golden_examples` (domain,
    difficulty, target_database, source, stale). Unknown or retired ids and an
    empty selection are refused naming the field. Idempotent like
    `create_snapshot`, which records `evaluation.snapshot.created`.
    """
    if (example_ids is None) == (filters is None):
        raise GoldenSetError("Give either example ids or a filter.", field="filter")
    if example_ids is not None:
        found = GoldenExample.objects.select_related("target_database").in_bulk(
            example_ids
        )
        missing = sorted(set(example_ids) - set(found))
        if missing:
            raise GoldenSetError(
                f"Unknown golden examples: {missing[:10]}.", field="example_ids"
            )
        retired = sorted(pk for pk, e in found.items() if e.retired_at is not None)
        if retired:
            raise GoldenSetError(
                f"Retired examples cannot enter a snapshot: {retired[:10]}.",
                field="example_ids",
            )
        chosen = list(found.values())
    else:
        # A filter without a kind means the regular golden set.
        chosen = list(
            list_golden_examples(
                **{"kind": GoldenExample.Kind.REGULAR, **(filters or {})},
                retired=False,
            )
        )
        if not chosen:
            raise GoldenSetError("No active golden example matches.", field="filter")
    return create_snapshot(name=name, examples=chosen, acting_user=acting_user)
