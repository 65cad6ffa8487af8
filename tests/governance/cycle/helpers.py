"""Builders for retraining-cycle tests: Spider goldens, approved corrections.

State is built through the product's services (ingestion, review, golden set),
never by writing rows directly.
"""

import json
import uuid
from functools import cache

from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from evaluation.services import add_golden_example, create_snapshot
from evaluation.spider import hardness
from feedback import services as review
from feedback.ingestion import ingest_events
from feedback.models import ReviewItem
from governance.cycle.progress import (
    CycleOptions,
    CycleOutcome,
)
from governance.cycle.services import run_cycle
from registry.models import Label, PromptTemplate
from targets.models import TargetDatabase
from tests.helpers import ROOT

# Spider dev concert_singer: (golden, paraphrase with the same SQL) positions.
PAIRS = [(2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (12, 13), (20, 21), (26, 27)]


@cache
def _dev() -> list[dict[str, str]]:
    return json.loads((ROOT / "data" / "spider" / "dev.json").read_text())


def spider(index: int) -> tuple[str, str]:
    """(question, gold SQL) of Spider dev item `index`."""
    item = _dev()[index]
    return item["question"], item["query"]


def add_goldens(target: TargetDatabase, indexes: list[int]) -> list[GoldenExample]:
    examples = []
    for index in indexes:
        question, sql = spider(index)
        examples.append(
            add_golden_example(
                target_database=target,
                question=question,
                sql=sql,
                source=GoldenExample.Source.IMPORT,
                acting_user=None,
                difficulty=hardness(sql),
                external_id=f"spider-dev:{index}",
            )
        )
    return examples


def golden_snapshot(target: TargetDatabase, indexes: list[int]) -> GoldenSetSnapshot:
    return create_snapshot(
        name="test goldens", examples=add_goldens(target, indexes), acting_user=None
    )


def correct(
    *,
    template: PromptTemplate,
    client: User,
    senior: User | None,
    question: str,
    sql: str,
    consent: str = "training",
    user_id: str = "u-1",
) -> ReviewItem:
    """Serve `question` to `user_id` with production's pair, correct it to `sql`,
    and (with a senior analyst) approve the correction."""
    label = Label.objects.get(template=template, name=Label.Name.PRODUCTION)
    interaction, correction = str(uuid.uuid4()), str(uuid.uuid4())
    now = timezone.now().isoformat()
    results = ingest_events(
        events=[
            {
                "kind": "interaction",
                "event_id": interaction,
                "user_id": user_id,
                "tenant_id": "acme",
                "task_type": "ad-hoc",
                "question": question,
                "generated_sql": "SELECT 1",
                "prompt_version": label.prompt_version_id,
                "model_version": label.model_version_id,
                "outcome": "success",
                "consent_scope": consent,
                "occurred_at": now,
            },
            {
                "kind": "feedback",
                "event_id": correction,
                "interaction_id": interaction,
                "type": "correction",
                "corrected_sql": sql,
                "submitter_role": "analyst",
                "occurred_at": now,
            },
        ],
        acting_user=client,
        channel="api",
    )
    assert [r.status for r in results] == ["created", "created"], results
    item = ReviewItem.objects.get(feedback_id=correction)
    if senior is not None:
        review.claim_review_item(item=item, acting_user=senior)
        item = review.approve_review_item(item=item, acting_user=senior)
    return item


def approve_spider(
    template: PromptTemplate,
    client: User,
    senior: User,
    index: int,
    consent: str = "training",
) -> ReviewItem:
    """Approve Spider item `index`'s gold SQL as the correction of its question."""
    question, sql = spider(index)
    return correct(
        template=template,
        client=client,
        senior=senior,
        question=question,
        sql=sql,
        consent=consent,
    )


def correct_paraphrases(
    template: PromptTemplate,
    client: User,
    senior: User,
    pairs: list[tuple[int, int]] = PAIRS,
) -> list[ReviewItem]:
    """Approve the gold SQL of each pair's paraphrase (the traffic side)."""
    return [
        correct(
            template=template,
            client=client,
            senior=senior,
            question=spider(traffic)[0],
            sql=spider(traffic)[1],
        )
        for _, traffic in pairs
    ]


def cycle(
    template: PromptTemplate, user: User | None, **options: object
) -> CycleOutcome:
    return run_cycle(
        template=template,
        acting_user=user,
        options=CycleOptions(**options),  # type: ignore[arg-type]
    )
