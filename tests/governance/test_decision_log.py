import json
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from audit.appendonly import suspended_guards
from audit.models import AuditEvent
from governance.chain import GENESIS_HASH, export_head, verify_chain
from governance.decisions import open_decision
from governance.exceptions import GovernanceError
from governance.models import DecisionLogEntry
from registry.models import PromptTemplate

pytestmark = pytest.mark.django_db


def log_three(template: PromptTemplate, user: User) -> list[DecisionLogEntry]:
    return [
        open_decision(
            template=template, decision=d, rationale=f"because {d}", acting_user=user
        )
        for d in ("investigate", "retrain", "defer")
    ]


def tamper(sql: str, params: list[object]) -> None:
    with suspended_guards(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_entries_chain_each_to_the_previous_hash(
    template: PromptTemplate, ml_lead: User
) -> None:
    first, second, third = log_three(template, ml_lead)
    assert [e.sequence for e in (first, second, third)] == [1, 2, 3]
    assert first.previous_hash == GENESIS_HASH
    assert second.previous_hash == first.entry_hash
    assert third.previous_hash == second.entry_hash
    assert (
        AuditEvent.objects.filter(event_type="governance.decision.logged").count() == 3
    )
    result = verify_chain()
    assert result.ok, result.problems
    assert "3 entries (#1..#3)" in result.verified[0]


def test_a_decision_needs_a_known_verdict_and_a_rationale(
    template: PromptTemplate, ml_lead: User
) -> None:
    with pytest.raises(GovernanceError) as bad:
        open_decision(
            template=template, decision="ship", rationale="x", acting_user=ml_lead
        )
    assert bad.value.field == "decision"
    with pytest.raises(GovernanceError) as empty:
        open_decision(
            template=template, decision="defer", rationale=" ", acting_user=ml_lead
        )
    assert empty.value.field == "rationale"
    assert not DecisionLogEntry.objects.exists()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE governance_decisionlogentry SET rationale = 'x'",
        "DELETE FROM governance_decisionlogentry",
        "UPDATE governance_auditevent SET reason = 'x'",
        "DELETE FROM governance_auditevent",
    ],
)
def test_database_refuses_updates_and_deletes_of_records(
    template: PromptTemplate, ml_lead: User, statement: str
) -> None:
    log_three(template, ml_lead)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as c:
        c.execute(statement)
    assert DecisionLogEntry.objects.count() == 3
    assert not DecisionLogEntry.objects.filter(rationale="x").exists()


def test_insert_or_replace_cannot_overwrite_an_entry_on_sqlite(
    template: PromptTemplate, ml_lead: User
) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("INSERT OR REPLACE is SQLite syntax")
    entry = log_three(template, ml_lead)[0]
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as c:
        c.execute(
            "INSERT OR REPLACE INTO governance_auditevent "
            "(id, event_type, subject_type, subject_id, reason, data, created_at) "
            "SELECT id, 'x', 'x', 'x', '', '{}', created_at FROM governance_auditevent "
            "WHERE subject_id = %s",
            [str(entry.pk)],
        )


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(
    template: PromptTemplate, ml_lead: User
) -> None:
    log_three(template, ml_lead)
    with connection.cursor() as cursor:
        # TRUNCATE refuses while deferred foreign-key checks are pending.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table in ("governance_decisionlogentry", "governance_auditevent"):
        with (
            pytest.raises(IntegrityError),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(f"TRUNCATE {table} CASCADE")
    assert DecisionLogEntry.objects.count() == 3


def test_verifier_detects_an_edited_entry(
    template: PromptTemplate, ml_lead: User
) -> None:
    second = log_three(template, ml_lead)[1]
    tamper(
        "UPDATE governance_decisionlogentry SET rationale = %s WHERE id = %s",
        ["nothing to see", second.pk],
    )
    result = verify_chain()
    assert result.problems == ["entry #2: content does not match its hash (edited)"]


def test_verifier_detects_a_deleted_entry(
    template: PromptTemplate, ml_lead: User
) -> None:
    second = log_three(template, ml_lead)[1]
    tamper("DELETE FROM governance_decisionlogentry WHERE id = %s", [second.pk])
    problems = verify_chain().problems
    assert "sequence gap: expected #2, found #3 (entries deleted or inserted)" in (
        problems
    )
    assert any("entry #3: previous_hash" in p for p in problems)


def test_verifier_detects_an_inserted_entry(
    template: PromptTemplate, ml_lead: User
) -> None:
    first, second, _ = log_three(template, ml_lead)
    # A forged entry slipped in at #2, renumbering the rest, hashes copied over.
    tamper(
        "UPDATE governance_decisionlogentry SET sequence = sequence + 10 "
        "WHERE sequence >= 2",
        [],
    )
    tamper(
        "UPDATE governance_decisionlogentry SET sequence = sequence - 9 "
        "WHERE sequence >= 12",
        [],
    )
    forged = DecisionLogEntry(
        sequence=2,
        kind="decision",
        template=template,
        decided_at=second.decided_at,
        decision="retrain",
        rationale="forged",
        previous_hash=first.entry_hash,
        entry_hash="f" * 64,
    )
    forged.save()
    problems = verify_chain().problems
    assert "entry #2: content does not match its hash (edited)" in problems
    assert any(p.startswith("entry #3: previous_hash") for p in problems)


def test_verifier_detects_reordered_entries(
    template: PromptTemplate, ml_lead: User
) -> None:
    _, second, third = log_three(template, ml_lead)
    tamper(
        "UPDATE governance_decisionlogentry SET sequence = %s WHERE id = %s",
        [99, second.pk],
    )
    tamper(
        "UPDATE governance_decisionlogentry SET sequence = %s WHERE id = %s",
        [2, third.pk],
    )
    tamper(
        "UPDATE governance_decisionlogentry SET sequence = %s WHERE id = %s",
        [3, second.pk],
    )
    problems = verify_chain().problems
    assert "entry #2: content does not match its hash (edited)" in problems
    assert any(p.startswith("entry #2: previous_hash") for p in problems)


def test_truncated_tail_is_detected_only_with_the_exported_head(
    template: PromptTemplate, ml_lead: User, tmp_path: Path
) -> None:
    entries = log_three(template, ml_lead)
    head_file = tmp_path / "head.json"
    call_command("export_log_head", output=head_file, stdout=StringIO())
    assert json.loads(head_file.read_text())["sequence"] == 3
    tamper("DELETE FROM governance_decisionlogentry WHERE id = %s", [entries[2].pk])
    tamper(
        "UPDATE governance_decisionloghead SET sequence = 2, entry_hash = %s",
        [entries[1].entry_hash],
    )
    assert verify_chain().ok  # the remaining chain is internally consistent
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="FAILED"):
        call_command("verify_decision_log", head=head_file, stdout=out, stderr=err)
    assert "truncated: the exported head #3 is missing; the log ends at #2" in (
        err.getvalue()
    )


def test_chain_rewritten_whole_is_detected_with_the_exported_head(
    template: PromptTemplate, ml_lead: User
) -> None:
    log_three(template, ml_lead)
    head = export_head()
    rewritten = "e" * 64
    tamper(
        "UPDATE governance_decisionlogentry SET entry_hash = %s WHERE sequence = 3",
        [rewritten],
    )
    problems = verify_chain(expected_head=head).problems
    assert any("the chain was rewritten" in p for p in problems)


def test_verify_command_states_what_it_verified(
    template: PromptTemplate, ml_lead: User, tmp_path: Path
) -> None:
    log_three(template, ml_lead)
    head_file = tmp_path / "head.json"
    head_file.write_text(json.dumps(export_head()))
    out = StringIO()
    call_command("verify_decision_log", head=head_file, stdout=out)
    text = out.getvalue()
    assert "verified: 3 entries (#1..#3)" in text
    assert "entries #1..#3 are exactly those that existed at export" in text
    assert "Decision log OK" in text
    out = StringIO()
    call_command("verify_decision_log", stdout=out)
    assert "not covered: Without an exported head" in out.getvalue()


def test_unreadable_head_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "head.json"
    bad.write_text("{}")
    with pytest.raises(CommandError, match="Unreadable head file"):
        call_command("verify_decision_log", head=bad, stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_flush_empties_records_and_leaves_the_guards_in_place(
    roles_present: None, template: PromptTemplate, ml_lead: User
) -> None:
    log_three(template, ml_lead)
    call_command("flush", interactive=False, verbosity=0)
    assert not DecisionLogEntry.objects.exists()
    assert not AuditEvent.objects.exists()
    event = AuditEvent.objects.create(
        event_type="x.y.z", subject_type="x", subject_id="1"
    )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as c:
        c.execute("DELETE FROM governance_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()
