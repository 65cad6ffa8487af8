"""After an erasure, no column of any table holds the person's text.

The person's question and correction go all the way round the loop: review,
golden example, dataset snapshot, challenger prompt, evaluation results,
promotion and release notes. Their erasure then leaves no trace of the text in
any column of any table (history tables and the audit trail included), while
every table keeps its rows, the decision log still verifies, and on
PostgreSQL the runtime role still cannot change the append-only tables.
"""

import uuid
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from audit.appendonly import APPEND_ONLY_TABLES
from evaluation.models import GoldenExample, GoldenSetSnapshot
from feedback import privacy
from feedback.erasure import ERASED
from feedback.models import PrivacyRequest
from governance.approvals import approve_promotion
from governance.chain import verify_chain
from governance.models import ReleaseNote
from registry.models import Label
from targets.models import TargetDatabase
from tests.governance.cycle.helpers import (
    PAIRS,
    correct,
    cycle,
    golden_snapshot,
    spider,
)

# Production moves on approval here (see `immediate_rollout`).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("immediate_rollout")]
MARKERS = ("Quillon", "Vanterpool")


@pytest.fixture
def senior(make_user: Callable[..., User]) -> User:
    return make_user("sen", "senior_analyst", is_staff=True)


@pytest.fixture
def client_user(make_user: Callable[..., User]) -> User:
    return make_user("bot", "analyst")


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user("pia", "privacy_officer", is_staff=True)


def stored_text() -> dict[str, str]:
    """Every column of every table, as text, per table."""
    found = {}
    introspection = connection.introspection
    with connection.cursor() as cursor:
        for table in introspection.table_names(cursor):
            chunks = []
            for column in introspection.get_table_description(cursor, table):
                name = connection.ops.quote_name(column.name)
                cursor.execute(
                    f"SELECT {name} FROM {connection.ops.quote_name(table)}"  # noqa: S608
                )
                chunks.extend(str(value) for (value,) in cursor.fetchall())
            found[table] = "\n".join(chunks)
    return found


def row_counts() -> dict[str, int]:
    counts = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT count(*) FROM {connection.ops.quote_name(table)}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


def holding(text: dict[str, str]) -> set[str]:
    return {table for table, body in text.items() if any(m in body for m in MARKERS)}


def test_an_erased_persons_text_is_gone_from_every_column_of_every_table(
    production: Label,
    target_db: TargetDatabase,
    client_user: User,
    senior: User,
    ml_lead: User,
    ml_lead2: User,
    officer: User,
    django_capture_on_commit_callbacks: Callable,
) -> None:
    golden_snapshot(target_db, [golden for golden, _ in PAIRS])
    for _, traffic in PAIRS[:1] + PAIRS[2:]:
        question, sql = spider(traffic)
        correct(
            template=production.template,
            client=client_user,
            senior=senior,
            question=question,
            sql=sql,
        )
    # The person's paraphrase of Spider item 4, with their name in the question
    # and in a literal of the correction (the result is the gold one).
    question, _ = spider(PAIRS[1][1])
    mine = correct(
        template=production.template,
        client=client_user,
        senior=senior,
        question=f"{question} Quillon Vanterpool asks.",
        sql="SELECT avg(age), min(age), max(age) FROM singer "
        "WHERE country = 'France' AND name <> 'Vanterpool'",
        user_id="quillon-7",
    )
    outcome = cycle(production.template, ml_lead)
    request = outcome.cycle.promotion_request
    assert request is not None, outcome.cycle.decision.rationale
    approve_promotion(request=request, approver=ml_lead2, comment="ok")
    before = stored_text()
    # The text went everywhere the loop copies it.
    assert {
        "feedback_interaction",
        "feedback_feedback",
        "feedback_reviewitem",
        "feedback_historicalreviewitem",
        "evaluation_goldenexample",
        "evaluation_historicalgoldenexample",
        "governance_datasetsnapshot",
        "registry_promptversion",
        "registry_historicalpromptversion",
        "governance_releasenote",
        "evaluation_evaluationresult",
    } <= holding(before)
    counts = row_counts()
    shots = len(request.prompt_version.few_shot_examples)
    with django_capture_on_commit_callbacks(execute=True):
        erasure = privacy.file_privacy_request(
            kind="erasure", user_id="quillon-7", acting_user=officer
        )
    erasure.refresh_from_db()
    assert erasure.status == PrivacyRequest.Status.COMPLETED, erasure.error
    after = stored_text()
    assert holding(after) == set(), sorted(holding(after))
    # Rows stay (the erasure and its audit rows are the only additions).
    grown = {t for t, n in row_counts().items() if n != counts[t]}
    assert grown <= {
        "feedback_privacyrequest",
        "feedback_historicalprivacyrequest",
        "governance_auditevent",
        "evaluation_historicalgoldenexample",
        "feedback_historicalreviewitem",
        "governance_historicalretrainingcycle",
    }, grown
    assert verify_chain().ok
    golden = GoldenExample.objects.get(pk=mine.golden_example_id)
    assert (golden.question, golden.retired_at is not None) == (ERASED, True)
    assert "Example added: [ERASED]" in ReleaseNote.objects.get().markdown
    assert GoldenSetSnapshot.objects.count() == 1
    served = Label.objects.get(template=production.template, name="production")
    assert all(
        "Vanterpool" not in e["sql"] for e in served.prompt_version.few_shot_examples
    )
    assert len(served.prompt_version.few_shot_examples) == shots - 1
    result = erasure.result
    assert result["governance_releasenote"]["ids"] == [
        str(ReleaseNote.objects.get().pk)
    ]
    assert result["registry_promptversion"]["ids"] == [str(served.prompt_version_id)]
    if connection.vendor == "postgresql":
        assert_runtime_role_cannot_change(APPEND_ONLY_TABLES)


def assert_runtime_role_cannot_change(tables: tuple[str, ...]) -> None:
    """A role with SELECT and INSERT only is refused UPDATE and DELETE, with the
    triggers lifted (privileges alone) and with them in place."""
    role = f"loopgate_runtime_test_{uuid.uuid4().hex[:8]}"
    user = connection.settings_dict["USER"]
    listed = ", ".join(tables)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        try:
            cursor.execute(f"GRANT {role} TO {user}")
            cursor.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
            cursor.execute(f"GRANT SELECT, INSERT ON {listed} TO {role}")
            for table in tables:
                for statement in (
                    f"UPDATE {table} SET id = id",  # noqa: S608 (fixed names)
                    f"DELETE FROM {table}",  # noqa: S608
                ):
                    if table.startswith("feedback_"):
                        statement = statement.replace("id = id", "event_id = event_id")
                    with pytest.raises(DatabaseError) as caught, transaction.atomic():
                        cursor.execute(f"SET LOCAL ROLE {role}")
                        cursor.execute(statement)
                    assert "permission denied" in str(caught.value)
            # The erasure left every trigger enabled: the owner is refused too.
            for table in tables:
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE tgenabled = 'O') "
                    "FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                    [table],
                )
                total, enabled = cursor.fetchone()
                assert total >= 2 and enabled == total, table
            with (
                pytest.raises(DatabaseError, match="append-only"),
                transaction.atomic(),
            ):
                cursor.execute("DELETE FROM feedback_interaction")
        finally:
            cursor.execute(f"REVOKE ALL ON {listed} FROM {role}")
            cursor.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
            cursor.execute(f"DROP ROLE {role}")
