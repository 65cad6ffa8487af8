"""The review workspace: what a senior analyst sees to decide one review item.

Reads only. The ranked queue puts pending items first, then the highest expected
impact (`selectors.list_review_queue`). One item's page shows the question, the
generated SQL against the correction as a word diff, both results run through
the sandbox on the item's target (first rows and row counts; failures are shown,
never raised), other corrections of the same question, and the interaction's
feedback. Each page load runs each distinct SQL text at most once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Case, F, IntegerField, QuerySet, Value, When

from feedback import selectors
from feedback.models import Feedback, ReviewItem
from feedback.quality_models import ReviewVerdict
from feedback.result_digest import ExecutionFailed, result_digest, run_redacted
from targets.models import TargetDatabase

State = ReviewItem.State
PREVIEW_ROWS = 10
OTHER_CORRECTIONS = 20
# Pending work first, then work in progress, then what is decided.
STATE_RANK = {
    State.PENDING: 0,
    State.ADJUDICATION: 1,
    State.CLAIMED: 2,
    State.APPROVED: 3,
    State.REJECTED: 3,
}
TOKEN = re.compile(r"\s+|\w+|[^\w\s]")


def list_workspace_queue() -> QuerySet[ReviewItem]:
    """The review queue for the admin: pending first, then by expected impact.

    Same scope and annotations as `selectors.list_review_queue` (consent
    respected), plus `state_rank` (0 for pending) to order by.
    """
    return (
        selectors.list_review_queue()
        .annotate(
            state_rank=Case(
                *(When(state=s, then=Value(rank)) for s, rank in STATE_RANK.items()),
                default=Value(9),
                output_field=IntegerField(),
            )
        )
        .order_by(F("state_rank").asc(), F("impact").desc(), "created_at", "pk")
    )


def impact_explanation(item: ReviewItem) -> str:
    """How the item's impact is made: segment volume x negative rate x weight.

    `item` must come from the ranked queue (it carries the annotations).
    """
    volume = getattr(item, "segment_volume", 0)
    rate = getattr(item, "negative_rate", 0.0)
    return f"{volume} interactions x {rate:.0%} negative x weight {item.weight:.2f}"


def impact_formula(item: ReviewItem) -> str:
    """The explanation's figures alone, for a narrow column."""
    volume = getattr(item, "segment_volume", 0)
    rate = getattr(item, "negative_rate", 0.0)
    return f"{volume} x {rate:.0%} x {item.weight:.2f}"


@dataclass(frozen=True, slots=True)
class Preview:
    """The first rows of one SQL's result on the target, or why there are none."""

    sql: str
    columns: tuple[str, ...] = ()
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    row_count: int = 0
    truncated: bool = False
    error: str = ""
    digest: str = ""


def preview(*, target: TargetDatabase, sql: str) -> Preview:
    """Run `sql` read-only on `target` (gate and sandbox caps); never raises.

    `row_count` counts the rows returned, up to the sandbox row cap (then
    `truncated` is set); `rows` keeps the first `PREVIEW_ROWS`.
    """
    if not sql.strip():
        return Preview(sql=sql, error="No SQL to run.")
    try:
        result = run_redacted(target=target, sql=sql)
    except ExecutionFailed as exc:
        return Preview(sql=sql, error=exc.message)
    return Preview(
        sql=sql,
        columns=tuple(result.columns),
        rows=[tuple(row) for row in result.rows[:PREVIEW_ROWS]],
        row_count=len(result.rows),
        truncated=result.truncated,
        digest="" if result.truncated else result_digest(result.rows),
    )


def same_result(first: Preview, second: Preview | None) -> bool | None:
    """Whether two previews hold the same rows in any order (None: unknown,
    when one failed or was cut at the row cap)."""
    if second is None or not (first.digest and second.digest):
        return None
    return first.digest == second.digest


def sql_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A word-level diff as (op, text) pieces, op in equal, delete, insert.

    Whitespace counts as a word, so joining the equal and delete pieces gives
    `before` back, and the equal and insert pieces give `after`.
    """
    old, new = TOKEN.findall(before), TOKEN.findall(after)
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            pieces.append(("equal", "".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("delete", "".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(("insert", "".join(new[j1:j2])))
    return pieces


@dataclass(frozen=True, slots=True)
class Correction:
    """Another correction of the same question, for comparison."""

    item: ReviewItem
    sql: str
    preview: Preview | None = None


@dataclass(frozen=True, slots=True)
class Workspace:
    """Everything the item page shows."""

    item: ReviewItem
    question: str
    generated_sql: str
    corrected_sql: str
    diff: list[tuple[str, str]]
    generated: Preview
    corrected: Preview | None
    same: bool | None
    others: list[Correction]
    adjudication: Correction | None
    feedback: list[Feedback]
    verdicts: list[ReviewVerdict]
    previous_pending: int | None
    next_pending: int | None


class _Runner:
    """Runs each distinct SQL once per page load on one target."""

    def __init__(self, target: TargetDatabase) -> None:
        self.target = target
        self.seen: dict[str, Preview] = {}

    def __call__(self, sql: str) -> Preview:
        if sql not in self.seen:
            self.seen[sql] = preview(target=self.target, sql=sql)
        return self.seen[sql]


def _neighbours(item: ReviewItem) -> tuple[int | None, int | None]:
    pending = list(
        list_workspace_queue().filter(state=State.PENDING).values_list("pk", flat=True)
    )
    if item.pk not in pending:
        return None, (pending[0] if pending else None)
    index = pending.index(item.pk)
    before = pending[index - 1] if index > 0 else None
    after = pending[index + 1] if index + 1 < len(pending) else None
    return before, after


def _others(item: ReviewItem) -> list[ReviewItem]:
    return list(
        ReviewItem.objects.filter(
            target_database_id=item.target_database_id,
            question_hash=item.question_hash,
            kind=ReviewItem.Kind.CORRECTION,
        )
        .exclude(pk=item.pk)
        .select_related("feedback")
        .order_by("-created_at", "-pk")[:OTHER_CORRECTIONS]
    )


def _rival(item: ReviewItem, others: list[ReviewItem]) -> ReviewItem | None:
    """The correction an adjudicator weighs this one against: one whose result
    differs (the disagreement), else the latest other correction."""
    differing = [
        o for o in others if o.result_digest and o.result_digest != item.result_digest
    ]
    candidates = differing or others
    return candidates[0] if candidates else None


def workspace_for(*, item: ReviewItem) -> Workspace:
    """The item page's data for any viewer of review items (runs SQL read-only).

    `item` should come from `list_workspace_queue` (impact annotations).
    """
    run = _Runner(item.target_database)
    interaction = item.interaction
    corrected_sql = item.feedback.corrected_sql if item.feedback else ""
    others = _others(item)
    rival = _rival(item, others) if item.state == State.ADJUDICATION else None
    before, after = _neighbours(item)
    generated = run(interaction.generated_sql)
    corrected = run(corrected_sql) if corrected_sql else None
    return Workspace(
        item=item,
        question=interaction.question,
        generated_sql=interaction.generated_sql,
        corrected_sql=corrected_sql,
        diff=sql_diff(interaction.generated_sql, corrected_sql)
        if corrected_sql
        else [],
        generated=generated,
        corrected=corrected,
        same=same_result(generated, corrected),
        others=[Correction(item=o, sql=_sql_of(o)) for o in others],
        adjudication=Correction(
            item=rival, sql=_sql_of(rival), preview=run(_sql_of(rival))
        )
        if rival is not None
        else None,
        feedback=list(
            Feedback.objects.filter(interaction=interaction).order_by(
                "occurred_at", "pk"
            )
        ),
        # Blind until both verdicts are in: the item leaves `pending` then.
        verdicts=[]
        if item.state == State.PENDING
        else list(item.verdicts.select_related("reviewer").order_by("pk")),
        previous_pending=before,
        next_pending=after,
    )


def _sql_of(item: ReviewItem) -> str:
    return item.feedback.corrected_sql if item.feedback else ""


def can_act(*, item: ReviewItem, user: User) -> dict[str, bool]:
    """Which buttons make sense for `user` in the item's state (the services
    still decide: a refused action is shown as a message)."""
    claimed = item.state == State.CLAIMED
    return {
        "claim": item.state == State.PENDING and not item.double_review,
        "release": claimed and item.claimed_by_id == user.pk,
        "decide": (claimed and item.claimed_by_id == user.pk)
        or item.state == State.ADJUDICATION,
        "escalate": claimed and item.claimed_by_id == user.pk,
        "verdict": item.state == State.PENDING and item.double_review,
    }
