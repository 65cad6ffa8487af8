"""After ingesting the PII corpus through every path, no raw value is stored.

The corpus (feedback.pii_corpus) goes in through the batch API (questions,
generated SQL, comments, corrections), the review queue (approvals into golden
examples, rejections and escalations with reasons) and the logs. Then every
text column of every table, history tables and the audit trail included, is
scanned for every raw value. The only raw values allowed to remain are the
few the detector itself misses on that text (its measured recall is below 1.0
for bare unlabelled phone digits); they are listed and bounded.
"""

import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from feedback import services
from feedback.logfilter import RedactingFilter
from feedback.models import ReviewItem
from feedback.pii_corpus import build_corpus
from feedback.redaction import redact
from targets.sqlgate import (
    SQLRejected,
    check_sql,
)

pytestmark = pytest.mark.django_db
Build = Callable[..., dict[str, Any]]


def parses(sql: str) -> bool:
    try:
        check_sql(sql, dialect="sqlite")
    except SQLRejected:
        return False
    return True


def all_stored_text() -> str:
    chunks = []
    introspection = connection.introspection
    with connection.cursor() as cursor:
        for table in introspection.table_names(cursor):
            for column in introspection.get_table_description(cursor, table):
                name = connection.ops.quote_name(column.name)
                cursor.execute(
                    f"SELECT {name} FROM {connection.ops.quote_name(table)}"  # noqa: S608
                )
                chunks.extend(str(value) for (value,) in cursor.fetchall())
    return "\n".join(chunks)


def test_no_raw_pii_value_survives_any_path(
    analyst: User,
    senior: User,
    senior2: User,
    client_as: Callable[[User], APIClient],
    interaction_event: Build,
    feedback_event: Build,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    corpus = build_corpus(seed=7, per_type=200)
    events: list[dict[str, Any]] = []
    for item in corpus:
        if item.kind == "question":
            events.append(interaction_event(question=item.text))
            continue
        host = interaction_event()
        events.append(host)
        if item.kind == "comment":
            events.append(
                feedback_event(host["event_id"], type="comment", comment=item.text)
            )
        else:
            # Generated SQL is stored as sent; a correction must parse, and
            # corpus SQL with PII appended after it does not (refused, unstored).
            events[-1] = {**host, "generated_sql": item.text}
            if parses(item.text):
                events.append(
                    feedback_event(
                        host["event_id"], type="correction", corrected_sql=item.text
                    )
                )
    client = client_as(analyst)
    with django_capture_on_commit_callbacks(execute=True):
        for start in range(0, len(events), 1000):
            body = client.post(
                "/api/v1/feedback/batch/",
                {"events": events[start : start + 1000]},
                "json",
            ).json()
            assert body["invalid"] == body["conflict"] == 0, body
    # Review decisions whose SQL and reasons carry PII literals.
    pii_values = [raw for item in corpus for _, raw in item.pii]
    decided = []
    for index, raw in enumerate(pii_values[:12]):
        literal = raw.replace("'", "''")
        host = interaction_event(question=f"Is {raw} a singer?")
        sql = f"SELECT name FROM singer WHERE name = '{literal}'"  # noqa: S608
        signal = feedback_event(host["event_id"], type="correction", corrected_sql=sql)
        with django_capture_on_commit_callbacks(execute=True):
            client.post("/api/v1/feedback/batch/", {"events": [host, signal]}, "json")
        item = ReviewItem.objects.get(feedback_id=signal["event_id"])
        services.claim_review_item(item=item, acting_user=senior)
        if index % 3 == 0:
            services.approve_review_item(item=item, acting_user=senior, sql=sql)
        elif index % 3 == 1:
            services.reject_review_item(
                item=item, acting_user=senior, reason=f"{raw} is test data"
            )
        else:
            services.escalate_review_item(
                item=item, acting_user=senior, reason=f"ask {raw}"
            )
            services.reject_review_item(item=item, acting_user=senior2, reason=raw)
        decided.append(item.pk)
    assert ReviewItem.objects.filter(state="approved").count() == 4
    stored = all_stored_text()
    assert len(stored) > 100_000
    assert "[EMAIL]" in stored
    assert "[IBAN]" in stored
    missed_by_detector = {
        raw for item in corpus for _, raw in item.pii if raw in redact(item.text).text
    }
    found = {raw for raw in pii_values if raw in stored}
    assert found <= missed_by_detector, sorted(found - missed_by_detector)
    assert len(found) <= 0.01 * len(pii_values)
    # Logs: the console handler redacts every record it emits.
    assert "redact_pii" in settings.LOGGING["handlers"]["console"]["filters"]
    record = logging.LogRecord(
        "feedback", logging.WARNING, __file__, 1, "failed for %s", (raw,), None
    )
    RedactingFilter().filter(record)
    assert raw not in record.getMessage()
    assert len(decided) == 12
