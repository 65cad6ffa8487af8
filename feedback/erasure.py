"""Erasure of free text without breaking append-only: one audited operation.

Chosen over crypto-shredding (README, Privacy): a person's text is copied into
golden examples, dataset snapshots, prompt few-shot examples, release notes and
evaluation results, which must stay readable to be useful, so no per-person key
could cover them; and encrypting at ingest would cost every event. Instead one
transaction, run as the table owner, overwrites only free-text columns with
``[ERASED]`` wherever that person's text went, history tables included, and
records what it erased (tables, columns, row ids: never the text). Rows,
counts, ids, hashes and the decision log (which holds no free text) stay as
they were; the append-only triggers are lifted for the interaction, feedback
and release-note tables inside that transaction only (`suspended_guards`),
which needs the owner's rights: the runtime role, with SELECT and INSERT on
those tables, cannot run it. On PostgreSQL the lifted tables take no inserts
until the transaction commits.

Apps above feedback erase their own copies through `register_eraser`
(governance: dataset snapshots, cycles, release notes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db.models import Case, Model, Q, QuerySet, Value, When

from audit.appendonly import overwrite_written_once, suspended_guards
from evaluation.models import EvaluationResult, GoldenExample, GoldResultCache
from feedback.models import Feedback, Interaction, ReviewItem
from feedback.redaction import placeholder
from registry.models import PromptVersion

ERASED = placeholder("ERASED")
EVENT_TABLES = ("feedback_interaction", "feedback_feedback")
# Few-shot examples copy reviewed questions into prompt versions.
PROMPT_VERSION_TABLE = "registry_promptversion"
Report = dict[str, Any]


@dataclass
class ErasureScope:
    """What one erasure reaches: row ids, and the original texts of the copies."""

    reason: str
    interaction_ids: list[UUID] = field(default_factory=list)
    feedback_ids: list[UUID] = field(default_factory=list)
    review_item_ids: list[int] = field(default_factory=list)
    golden_ids: list[int] = field(default_factory=list)
    template_ids: set[int] = field(default_factory=set)
    # Texts of the person's questions and of the SQL they wrote (corrections,
    # and what was approved from them), to find their copies by value.
    questions: set[str] = field(default_factory=set)
    sqls: set[str] = field(default_factory=set)
    # Prompt versions that held one of their questions as a few-shot example:
    # only outputs of those can have copied their SQL (filled by the erasure).
    prompt_version_ids: set[int] = field(default_factory=set)
    # Retention reaches the events and review items only.
    copies: bool = True

    def touched(self, row: dict[str, Any]) -> bool:
        """Whether a row copied from events (dataset snapshot row) is in scope."""
        return (
            str(row.get("interaction")) in {str(i) for i in self.interaction_ids}
            or str(row.get("feedback")) in {str(i) for i in self.feedback_ids}
            or row.get("review_item") in self.review_item_ids
            or row.get("golden_example") in self.golden_ids
        )


Eraser = Callable[[ErasureScope], Report]
_ERASERS: list[Eraser] = []
# Tables above feedback whose triggers an eraser needs lifted.
_EXTRA_TABLES: list[str] = []


def register_eraser(eraser: Eraser, *, append_only_tables: Iterable[str] = ()) -> None:
    """Let an app above feedback erase its copies of a person's text.

    Called from an AppConfig's `ready()`. The eraser runs inside the erasure's
    transaction, with the triggers of `append_only_tables` lifted, and returns
    what it erased ({table: {"columns": [...], "ids": [...]}}).
    """
    if eraser not in _ERASERS:
        _ERASERS.append(eraser)
    _EXTRA_TABLES.extend(t for t in append_only_tables if t not in _EXTRA_TABLES)


def erased_text(column: str) -> Case:
    """`column` overwritten with the placeholder, an empty value kept empty."""
    return Case(When(**{column: ""}, then=Value("")), default=Value(ERASED))


def _entry(columns: list[str], ids: Iterable[Any]) -> dict[str, Any]:
    return {"columns": columns, "ids": sorted(str(i) for i in ids)}


def _save_erased(obj: Model, reason: str, **values: Any) -> None:
    for name, value in values.items():
        setattr(obj, name, value)
    # The history row of this save says why the text changed.
    obj._change_reason = reason  # type: ignore[attr-defined]
    obj.save(update_fields=list(values))


def erased_taxonomy(taxonomy: dict[str, Any]) -> dict[str, Any]:
    """An error classification without its details (they quote the SQL's
    literals); the version, classes and segment stay."""
    if not taxonomy.get("details"):
        return taxonomy
    return {**taxonomy, "details": {key: [ERASED] for key in taxonomy["details"]}}


def _erase_taxonomies(model: type[Model], ids: list[Any], reason: str) -> None:
    """The error classification of `model` rows `ids`, and of their history."""
    for obj in model._default_manager.filter(pk__in=ids):
        erased = erased_taxonomy(obj.error_taxonomy)  # type: ignore[attr-defined]
        if erased != obj.error_taxonomy:  # type: ignore[attr-defined]
            _save_erased(obj, reason, error_taxonomy=erased)
    history = model.history.model  # type: ignore[attr-defined]
    for row in history.objects.filter(**{f"{model._meta.pk.attname}__in": ids}):
        erased = erased_taxonomy(row.error_taxonomy)
        if erased != row.error_taxonomy:
            history.objects.filter(pk=row.pk).update(error_taxonomy=erased)


def _erase_history(model: type[Model], ids: list[Any], columns: list[str]) -> int:
    history = model.history.model  # type: ignore[attr-defined]
    rows: QuerySet[Any] = history.objects.filter(
        **{f"{model._meta.pk.attname}__in": ids}
    )
    return rows.update(**{c: erased_text(c) for c in columns})


def _erase_events(scope: ErasureScope) -> Report:
    report: Report = {}
    interactions = Interaction.objects.filter(pk__in=scope.interaction_ids)
    overwrite_written_once(
        interactions,
        question=Value(ERASED),
        generated_sql=erased_text("generated_sql"),
    )
    report["feedback_interaction"] = _entry(
        ["question", "generated_sql"], scope.interaction_ids
    )
    feedback = Feedback.objects.filter(pk__in=scope.feedback_ids)
    overwrite_written_once(
        feedback,
        comment=erased_text("comment"),
        corrected_sql=erased_text("corrected_sql"),
    )
    report["feedback_feedback"] = _entry(
        ["comment", "corrected_sql"], scope.feedback_ids
    )
    columns = ["approved_sql", "check_error"] if scope.copies else ["check_error"]
    for item in ReviewItem.objects.filter(pk__in=scope.review_item_ids):
        _save_erased(
            item,
            scope.reason,
            **{c: ERASED if getattr(item, c) else "" for c in columns},
        )
    _erase_history(ReviewItem, scope.review_item_ids, columns)
    _erase_taxonomies(ReviewItem, scope.review_item_ids, scope.reason)
    columns = [*columns, "error_taxonomy"]
    report["feedback_reviewitem"] = _entry(columns, scope.review_item_ids)
    report["feedback_historicalreviewitem"] = _entry(columns, scope.review_item_ids)
    return report


def _erase_golden_copies(scope: ErasureScope) -> Report:
    for example in GoldenExample.objects.filter(pk__in=scope.golden_ids):
        _save_erased(example, scope.reason, question=ERASED, sql=ERASED)
    _erase_history(GoldenExample, scope.golden_ids, ["question", "sql"])
    _erase_taxonomies(GoldenExample, scope.golden_ids, scope.reason)
    cached = GoldResultCache.objects.filter(golden_example_id__in=scope.golden_ids)
    cached_ids = list(cached.values_list("pk", flat=True))
    cached.update(
        normalized_sql=None,
        rows_json="",
        columns=[],
        error=f"Golden example erased ({scope.reason}).",
    )
    results = EvaluationResult.objects.filter(
        Q(golden_example_id__in=scope.golden_ids)
        | Q(
            predicted_sql__in=scope.sqls,
            run__prompt_version_id__in=scope.prompt_version_ids,
        )
    ).exclude(predicted_sql="")
    result_ids = list(results.values_list("pk", flat=True))
    EvaluationResult.objects.filter(pk__in=result_ids).update(
        predicted_sql=Value(ERASED)
    )
    return {
        "evaluation_goldenexample": _entry(
            ["question", "sql", "error_taxonomy"], scope.golden_ids
        ),
        "evaluation_historicalgoldenexample": _entry(
            ["question", "sql", "error_taxonomy"], scope.golden_ids
        ),
        "evaluation_goldresultcache": _entry(
            ["normalized_sql", "rows_json", "columns"], cached_ids
        ),
        "evaluation_evaluationresult": _entry(["predicted_sql"], result_ids),
    }


def without_erased_examples(
    examples: list[dict[str, Any]], questions: set[str]
) -> list[dict[str, Any]]:
    """Few-shot examples minus those whose question is one of `questions`."""
    return [e for e in examples if str(e.get("question", "")).strip() not in questions]


def _erase_prompt_examples(scope: ErasureScope) -> Report:
    questions = {q.strip() for q in scope.questions}
    versions = []
    for version in PromptVersion.objects.filter(template_id__in=scope.template_ids):
        kept = without_erased_examples(version.few_shot_examples, questions)
        if len(kept) != len(version.few_shot_examples):
            overwrite_written_once(
                PromptVersion.objects.filter(pk=version.pk), few_shot_examples=kept
            )
            versions.append(version.pk)
    history = PromptVersion.history.model
    rows = []
    for row in history.objects.filter(template_id__in=scope.template_ids):
        kept = without_erased_examples(row.few_shot_examples, questions)
        if len(kept) != len(row.few_shot_examples):
            history.objects.filter(pk=row.pk).update(few_shot_examples=kept)
            rows.append(row.id)
    scope.prompt_version_ids = {*versions, *rows}
    return {
        "registry_promptversion": _entry(["few_shot_examples"], versions),
        "registry_historicalpromptversion": _entry(["few_shot_examples"], set(rows)),
    }


def erase(scope: ErasureScope) -> Report:
    """Overwrite every free-text copy in `scope`; return what was erased.

    Call inside a transaction as the table owner (see the module docstring).
    """
    report: Report = {}
    tables = (
        (*EVENT_TABLES, PROMPT_VERSION_TABLE, *_EXTRA_TABLES)
        if scope.copies
        else EVENT_TABLES
    )
    with suspended_guards(tables=tables):
        report.update(_erase_events(scope))
        if scope.copies:
            report.update(_erase_prompt_examples(scope))
            report.update(_erase_golden_copies(scope))
            for eraser in _ERASERS:
                report.update(eraser(scope))
    return report


def subject_scope(pseudonym: str, reason: str) -> ErasureScope:
    """Everything a person's free text reached: their interactions, the feedback
    on them and the feedback they gave, review items, derived golden examples."""
    interactions = list(Interaction.objects.filter(user_pseudonym=pseudonym))
    feedback = list(
        Feedback.objects.filter(
            Q(interaction__user_pseudonym=pseudonym) | Q(submitter_pseudonym=pseudonym)
        )
    )
    interaction_ids = [i.pk for i in interactions]
    feedback_ids = [f.pk for f in feedback]
    items = list(
        ReviewItem.objects.filter(
            Q(feedback_id__in=feedback_ids) | Q(interaction_id__in=interaction_ids)
        )
    )
    goldens = list(
        GoldenExample.objects.filter(
            Q(source_interaction_id__in=interaction_ids)
            | Q(source_feedback_id__in=feedback_ids)
        )
    )
    texts = {i.question for i in interactions} | {g.question for g in goldens}
    # The SQL they wrote, not what the model generated for them: generated SQL
    # is erased on their interactions, and is no copy of their text elsewhere.
    sqls = {g.sql for g in goldens} | {f.corrected_sql for f in feedback}
    sqls |= {r.approved_sql for r in items}
    templates = {i.template_id for i in interactions} | {r.template_id for r in items}
    return ErasureScope(
        reason=reason,
        interaction_ids=interaction_ids,
        feedback_ids=feedback_ids,
        review_item_ids=[r.pk for r in items],
        golden_ids=[g.pk for g in goldens],
        template_ids=templates,
        questions=texts - {"", ERASED},
        sqls=sqls - {"", ERASED},
    )


def retention_scope(
    interaction_ids: list[UUID], feedback_ids: list[UUID], reason: str
) -> ErasureScope:
    """The events of a retention chunk and the review items on them."""
    items = ReviewItem.objects.filter(
        Q(feedback_id__in=feedback_ids) | Q(interaction_id__in=interaction_ids)
    ).values_list("pk", flat=True)
    return ErasureScope(
        reason=reason,
        interaction_ids=interaction_ids,
        feedback_ids=feedback_ids,
        review_item_ids=list(items),
        copies=False,
    )
