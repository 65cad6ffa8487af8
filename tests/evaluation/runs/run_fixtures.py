"""Golden items and prompts whose run outcomes can be computed by hand.

Each golden question (from Spider's concert_singer dev set) has a paraphrase
used as a few-shot question; the retrieval baseline answers a golden question
with its paraphrase's SQL. A prompt built with `prompt_with(correct={...})`
therefore answers exactly the listed items right (the others get WRONG_SQL,
which executes but returns stadium names).
"""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User

from evaluation.models import (
    EvaluationRun,
    GoldenExample,
    GoldenSetSnapshot,
    SnapshotItem,
)
from evaluation.runs.services import (
    execute_run,
    start_run,
)
from evaluation.services import (
    add_golden_example,
    create_snapshot,
    snapshot_content_hash,
)
from registry.models import ModelVersion, PromptTemplate, PromptVersion
from registry.services import create_prompt_version
from targets.models import TargetDatabase

TEMPLATE_TEXT = "Schema:\n{schema}\nExamples:\n{examples}\nQuestion: {question}\nSQL:"
WRONG_SQL = "SELECT name FROM stadium"

# (golden question, paraphrase used as few-shot question, SQL, difficulty)
ITEMS = [
    (
        "What is the total number of singers?",
        "How many singers do we have?",
        "SELECT count(*) FROM singer",
        "easy",
    ),
    (
        "What are the names, countries, and ages for every singer in descending "
        "order of age?",
        "Show name, country, age for all singers ordered by age from the oldest to "
        "the youngest.",
        "SELECT name, country, age FROM singer ORDER BY age DESC",
        "medium",
    ),
    (
        "What is the average, minimum, and maximum age for all French singers?",
        "What is the average, minimum, and maximum age of all singers from France?",
        "SELECT avg(age), min(age), max(age) FROM singer WHERE country = 'France'",
        "medium",
    ),
    (
        "What are the names and release years for all the songs of the youngest "
        "singer?",
        "Show the name and the release year of the song by the youngest singer.",
        "SELECT song_name, song_release_year FROM singer ORDER BY age LIMIT 1",
        "medium",
    ),
    (
        "What are the different countries with singers above age 20?",
        "What are all distinct countries where singers above age 20 are from?",
        "SELECT DISTINCT country FROM singer WHERE age > 20",
        "easy",
    ),
    (
        "How many singers are from each country?",
        "Show all countries and the number of singers in each country.",
        "SELECT country, count(*) FROM singer GROUP BY country",
        "easy",
    ),
]


def add_goldens(
    target_db: TargetDatabase, items: Iterable[tuple[str, str, str, str]] = ITEMS
) -> list[GoldenExample]:
    return [
        add_golden_example(
            target_database=target_db,
            question=question,
            sql=sql,
            source="manual",
            difficulty=difficulty,
            acting_user=None,
        )
        for question, _, sql, difficulty in items
    ]


def snapshot_of(
    examples: list[GoldenExample], name: str = "golden"
) -> GoldenSetSnapshot:
    return create_snapshot(name=name, examples=examples, acting_user=None)


def legacy_golden(target_db: TargetDatabase, question: str, sql: str) -> GoldenExample:
    """A golden row stored before golden queries were run on their target.

    No service writes such a row any more (`add_golden_example` verifies the SQL),
    so it is written directly, as older data or a target changed since holds it.
    """
    return GoldenExample.objects.create(
        target_database=target_db,
        question=question,
        sql=sql,
        domain=target_db.name,
        source=GoldenExample.Source.IMPORT,
    )


def legacy_snapshot(
    examples: list[GoldenExample], name: str = "legacy"
) -> GoldenSetSnapshot:
    """A snapshot frozen before its golden queries were checked (see above)."""
    snapshot = GoldenSetSnapshot.objects.create(
        name=name,
        content_hash=snapshot_content_hash(examples),
        example_count=len(examples),
    )
    SnapshotItem.objects.bulk_create(
        SnapshotItem(snapshot=snapshot, golden_example=e) for e in examples
    )
    return snapshot


def prompt_with(
    template: PromptTemplate,
    author: User,
    *,
    correct: Iterable[int],
    extra: list[dict[str, str]] | None = None,
    changelog: str = "test prompt",
) -> PromptVersion:
    right = set(correct)
    examples = [
        {"question": paraphrase, "sql": sql if i in right else WRONG_SQL}
        for i, (_, paraphrase, sql, _) in enumerate(ITEMS)
    ]
    return create_prompt_version(
        template=template,
        template_text=TEMPLATE_TEXT,
        few_shot_examples=examples + (extra or []),
        parameters={"max_examples": 2},
        changelog=changelog,
        author=author,
    )


def finished_run(
    prompt_version: PromptVersion,
    model_version: ModelVersion,
    snapshot: GoldenSetSnapshot,
    **options: Any,
) -> EvaluationRun:
    """Start a run and process it in this process (no broker)."""
    run = start_run(
        prompt_version=prompt_version,
        model_version=model_version,
        snapshot=snapshot,
        acting_user=None,
        enqueue=False,
        **options,
    )
    return execute_run(run=run)


def verdicts(run: EvaluationRun) -> dict[int, bool]:
    """Execution verdict per golden item index (ITEMS order)."""
    by_question = {q: i for i, (q, _, _, _) in enumerate(ITEMS)}
    return {
        by_question[r.golden_example.question]: r.execution_match
        for r in run.results.select_related("golden_example")
    }
