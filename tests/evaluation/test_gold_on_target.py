"""A golden example always runs on its target (issue #12, part 1).

Every way into the golden set runs the gold SQL on its target first; an import
lists each failure by line with the engine's message and stores nothing (unless
told to skip them); runs and score_predictions leave a gold that does not run
out of every rate and report it, never as the model's miss.
"""

import io
import json
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEvent
from evaluation.dialects import (
    SQLGLOT_VERSION,
    TranspileError,
    canonical_dialect,
    transpile_sql,
)
from evaluation.exceptions import GoldenSetError
from evaluation.models import EvaluationRun, GoldenExample, GoldenSetSnapshot
from evaluation.services import add_golden_example, create_snapshot
from registry.models import ModelVersion
from registry.services import create_template
from targets.exceptions import GoldUnrunnable
from targets.execution import verify_gold
from targets.models import TargetDatabase
from targets.provisioning import provision_select_only_role
from targets.sandbox import close_all
from targets.services import register_target_database
from tests.evaluation.runs.run_fixtures import (
    add_goldens,
    finished_run,
    legacy_golden,
    legacy_snapshot,
    prompt_with,
)
from tests.evaluation.test_commands import _copy_sqlite, _with
from tests.helpers import DATA, admin_dsn

API = "/api/v1/evaluation"
DB_DIR = DATA / "spider" / "database"
ClientAs = Callable[[User], APIClient]

GOOD = "SELECT count(*) FROM singer WHERE country = 'France'"
# SQLite reads a double-quoted word that names no column as a string;
# PostgreSQL reads it as an identifier.
DOUBLE_QUOTED = 'SELECT count(*) FROM singer WHERE country = "France"'
# SQLite picks a row's value for a column missing from GROUP BY; PostgreSQL refuses.
UNGROUPED = "SELECT name, count(*) FROM singer GROUP BY country"
MISSING_COLUMN = "SELECT nickname FROM singer"


def jsonl(tmp_path: Path, db: str, sqls: list[str]) -> Path:
    path = tmp_path / "golden.jsonl"
    rows = [
        {"question": f"Question {n}?", "sql": sql, "db": db, "id": str(n)}
        for n, sql in enumerate(sqls, 1)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def import_jsonl(path: Path, *flags: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_goldens", "--format", "jsonl", "--file", str(path), *flags,
                 stdout=out, stderr=err)  # fmt: skip
    return out.getvalue(), err.getvalue()


# --- verify_gold and the creation paths -----------------------------------------


def test_verify_gold_returns_the_whole_result(target_db: TargetDatabase) -> None:
    proof = verify_gold(target_db, f"  {GOOD}  ")
    assert proof.result.rows == [(4,)]
    assert proof.covers(target_db, GOOD)
    assert not proof.covers(target_db, "SELECT 1")


def test_verify_gold_carries_the_engine_message(target_db: TargetDatabase) -> None:
    with pytest.raises(GoldUnrunnable) as caught:
        verify_gold(target_db, MISSING_COLUMN)
    assert caught.value.field == "sql"
    assert "no such column: nickname" in caught.value.message
    assert "concert_singer" in caught.value.message


def test_verify_gold_refuses_a_result_cut_at_the_row_cap(
    target_db: TargetDatabase, settings: object
) -> None:
    settings.SANDBOX_MAX_ROWS = 3  # type: ignore[attr-defined]
    with pytest.raises(GoldUnrunnable, match="more than 3 rows"):
        verify_gold(target_db, "SELECT name FROM singer")


def test_a_gold_that_does_not_run_is_never_stored(target_db: TargetDatabase) -> None:
    with pytest.raises(GoldUnrunnable, match="no such column"):
        add_golden_example(
            target_database=target_db,
            question="Nicknames?",
            sql=MISSING_COLUMN,
            source="import",
            acting_user=None,
        )
    assert not GoldenExample.objects.exists()
    assert not AuditEvent.objects.filter(
        event_type="evaluation.golden_example.added"
    ).exists()


def test_a_proof_for_other_sql_does_not_let_a_gold_in(
    target_db: TargetDatabase,
) -> None:
    proof = verify_gold(target_db, GOOD)
    with pytest.raises(GoldUnrunnable):
        add_golden_example(
            target_database=target_db,
            question="Nicknames?",
            sql=MISSING_COLUMN,
            source="manual",
            acting_user=None,
            verified=proof,
        )
    assert not GoldenExample.objects.exists()


def test_manual_api_refuses_a_gold_that_does_not_run(
    target_db: TargetDatabase, ml_lead: User, client_as: ClientAs
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/golden-examples/",
        {"target_database": target_db.name, "question": "Nick?", "sql": MISSING_COLUMN},
        format="json",
    )
    assert response.status_code == 400
    assert "no such column: nickname" in response.json()["sql"][0]
    assert not GoldenExample.objects.exists()


def test_a_snapshot_refuses_a_gold_that_no_longer_runs(
    target_db: TargetDatabase,
) -> None:
    fine = add_goldens(target_db)[:2]
    broken = legacy_golden(target_db, "Nicknames?", MISSING_COLUMN)
    with pytest.raises(GoldenSetError) as caught:
        create_snapshot(name="s", examples=[*fine, broken], acting_user=None)
    assert caught.value.field == "examples"
    assert f"#{broken.pk}: " in caught.value.message
    assert "no such column: nickname" in caught.value.message
    assert not GoldenSetSnapshot.objects.exists()
    assert create_snapshot(name="s", examples=fine, acting_user=None).example_count == 2


# --- import: command and API ----------------------------------------------------


def test_import_stores_nothing_and_names_each_failing_line(
    target_db: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, target_db.name, [GOOD, MISSING_COLUMN, GOOD + " AND 1",
                                            "SELECT * FROM managers"])  # fmt: skip
    with pytest.raises(CommandError, match="2 golden queries do not run"):
        import_jsonl(path)
    assert not GoldenExample.objects.exists()


def test_import_prints_each_failure_with_the_engine_message(
    target_db: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, target_db.name, [GOOD, MISSING_COLUMN])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_goldens", "--format", "jsonl", "--file", str(path),
                     stderr=err)  # fmt: skip
    assert "line 2 (concert_singer, jsonl-golden:2)" in err.getvalue()
    assert "no such column: nickname" in err.getvalue()
    assert "line 1 " not in err.getvalue()


def test_skip_invalid_stores_the_rest_and_lists_the_failures(
    target_db: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, target_db.name, [GOOD, MISSING_COLUMN, "SELECT 2"])
    out, _ = import_jsonl(path, "--skip-invalid", "--snapshot", "half")
    assert sorted(GoldenExample.objects.values_list("sql", flat=True)) == sorted(
        [GOOD, "SELECT 2"]
    )
    assert "created 2" in out
    assert "SQL cannot be transpiled or does not run on the target: 1" in out
    assert "line 2 (concert_singer, jsonl-golden:2): " in out
    assert GoldenSetSnapshot.objects.get().example_count == 2


def test_api_import_refuses_with_each_failure_by_line(
    target_db: TargetDatabase, ml_lead: User, client_as: ClientAs
) -> None:
    items = [
        {"question": "French singers?", "sql": GOOD, "db": target_db.name},
        {"question": "Nicknames?", "sql": MISSING_COLUMN, "db": target_db.name},
    ]
    client = client_as(ml_lead)
    response = client.post(
        f"{API}/golden-examples/import/", {"items": items}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert "nothing was imported" in body["items"][0]
    [error] = body["errors"]
    assert (error["line"], error["db"]) == (2, target_db.name)
    assert "no such column: nickname" in error["message"]
    assert not GoldenExample.objects.exists()
    response = client.post(
        f"{API}/golden-examples/import/",
        {"items": items, "skip_invalid": True},
        format="json",
    )
    assert response.status_code == 201
    report = response.json()
    assert (report["created"], report["reused"]) == (1, 0)
    assert [u["line"] for u in report["unrunnable"]] == [2]
    assert GoldenExample.objects.get().sql == GOOD
    assert GoldenExample.objects.get().owner == ml_lead


def test_api_import_names_a_malformed_item(
    target_db: TargetDatabase, ml_lead: User, client_as: ClientAs
) -> None:
    response = client_as(ml_lead).post(
        f"{API}/golden-examples/import/",
        {"items": [{"question": "Q?", "sql": GOOD, "db": target_db.name},
                   {"question": "Q?", "db": target_db.name}]},
        format="json",
    )  # fmt: skip
    assert response.status_code == 400
    assert "item 2" in response.json()["items"][0]
    assert not GoldenExample.objects.exists()


def test_api_import_needs_the_add_permission(
    target_db: TargetDatabase, auditor: User, client_as: ClientAs
) -> None:
    items = [{"question": "Q?", "sql": GOOD, "db": target_db.name}]
    response = client_as(auditor).post(
        f"{API}/golden-examples/import/", {"items": items}, format="json"
    )
    assert response.status_code == 403
    assert APIClient().post(f"{API}/golden-examples/import/").status_code == 401


# --- score_predictions ----------------------------------------------------------


def test_score_predictions_leaves_an_unrunnable_gold_out_with_its_message(
    tmp_path: Path,
) -> None:
    gold = tmp_path / "gold.sql"
    gold.write_text(f"{GOOD}\tconcert_singer\n{MISSING_COLUMN}\tconcert_singer\n")
    pred = tmp_path / "pred.sql"
    pred.write_text(f"{GOOD}\nSELECT name FROM singer\n")
    out = io.StringIO()
    call_command("score_predictions", str(gold), str(pred), "--db-dir", str(DB_DIR),
                 stdout=out)  # fmt: skip
    text = out.getvalue()
    assert "Scored 1 of 2 items" in text
    assert "concert_singer: 1 (gold_error)" in text
    assert "item 2 (concert_singer): golden query failed: no such column" in text
    accuracy = next(line for line in text.splitlines() if "execution accuracy" in line)
    assert accuracy.split()[-1] == "1.000"


# --- moving a golden set between engines ----------------------------------------

SINGER_COLUMNS = ["singer_id", "name", "country", "age"]


def test_a_double_quoted_sqlite_string_becomes_a_string_for_postgres() -> None:
    moved = transpile_sql(
        DOUBLE_QUOTED, read="sqlite", write="postgresql", columns=SINGER_COLUMNS
    )
    assert moved == "SELECT COUNT(*) FROM singer WHERE country = 'France'"


def test_double_quoted_columns_and_aliases_stay_identifiers() -> None:
    sql = (
        'SELECT "name", count(*) AS "n" FROM singer AS T1 WHERE T1."x" = 1 ORDER BY "n"'
    )
    moved = transpile_sql(sql, read="sqlite", write="postgres", columns=["Name"])
    assert '"name"' in moved and 'ORDER BY "n"' in moved and 'T1."x"' in moved
    assert "'" not in moved


@pytest.mark.parametrize(
    "sql", ["SELECT name FROM singer WHERE (", "SELECT 1; SELECT 2", "  "]
)
def test_what_sqlglot_cannot_carry_is_a_transpile_error(sql: str) -> None:
    with pytest.raises(TranspileError):
        transpile_sql(sql, read="postgres", write="sqlite")


def test_dialect_names_are_sqlglot_names() -> None:
    assert canonical_dialect("PostgreSQL") == "postgres"
    assert canonical_dialect("sqlite") == "sqlite"
    with pytest.raises(TranspileError, match="Unknown SQL dialect"):
        canonical_dialect("oracle9")


def test_import_from_another_dialect_transpiles_verifies_and_keeps_the_original(
    target_db: TargetDatabase, tmp_path: Path
) -> None:
    ilike = "SELECT name FROM singer WHERE country ILIKE 'france'"
    regex = "SELECT name FROM singer WHERE name ~ '^J'"  # No REGEXP in SQLite.
    broken = "SELECT name FROM singer WHERE ("
    path = jsonl(tmp_path, target_db.name, [ilike, regex, broken])
    err = io.StringIO()
    with pytest.raises(
        CommandError, match="2 golden queries cannot be transpiled or do not run"
    ):
        call_command("import_goldens", "--format", "jsonl", "--file", str(path),
                     "--from-dialect", "postgres", stderr=err)  # fmt: skip
    text = err.getvalue()
    assert "line 2 (concert_singer, jsonl-golden:2): " in text
    assert "REGEXP" in text
    assert "line 3 (concert_singer, jsonl-golden:3): Cannot transpile from " in text
    assert not GoldenExample.objects.exists()
    out, _ = import_jsonl(path, "--from-dialect", "postgres", "--skip-invalid")
    assert f"Transpiled with sqlglot {SQLGLOT_VERSION}: 1" in out
    example = GoldenExample.objects.get()
    assert example.sql == (
        "SELECT name FROM singer WHERE LOWER(country) LIKE LOWER('france')"
    )
    assert (example.original_sql, example.original_dialect) == (ilike, "postgres")
    assert example.transpiled_with == SQLGLOT_VERSION


def test_import_in_the_target_dialect_is_not_transpiled(
    target_db: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, target_db.name, [DOUBLE_QUOTED])
    out, _ = import_jsonl(path, "--from-dialect", "sqlite")
    example = GoldenExample.objects.get()
    assert example.sql == DOUBLE_QUOTED
    assert (example.original_sql, example.transpiled_with) == ("", "")
    assert "Transpiled" not in out


def test_api_import_reports_the_stage_and_refuses_an_unknown_dialect(
    target_db: TargetDatabase, ml_lead: User, client_as: ClientAs
) -> None:
    client = client_as(ml_lead)
    items = [{"question": "Q?", "sql": "SELECT (", "db": target_db.name}]
    url = f"{API}/golden-examples/import/"
    response = client.post(
        url, {"items": items, "from_dialect": "postgres"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["stage"] == "transpile"
    response = client.post(url, {"items": items, "from_dialect": "nope"}, format="json")
    assert response.status_code == 400
    assert "Unknown SQL dialect" in response.json()["from_dialect"][0]
    assert not GoldenExample.objects.exists()


# --- PostgreSQL -----------------------------------------------------------------


@pytest.fixture
def pg_target(db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[TargetDatabase]:
    """concert_singer copied to a scratch PostgreSQL database, read by its role."""
    import psycopg
    from psycopg import sql

    url = admin_dsn()
    suffix = uuid.uuid4().hex[:10]
    name, role = f"loopgate_gold_{suffix}", f"loopgate_gold_ro_{suffix}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        owner = _with(url, dbname=name)
        _copy_sqlite(DB_DIR / "concert_singer" / "concert_singer.sqlite", owner)
        reader = provision_select_only_role(
            admin_dsn=owner, role=role, password=secrets.token_urlsafe(16)
        )
        monkeypatch.setenv("LOOPGATE_TARGET_GOLD_TEST_DSN", reader.dsn)
        yield register_target_database(
            name="concerts-pg",
            engine="postgresql",
            location="LOOPGATE_TARGET_GOLD_TEST_DSN",
            acting_user=None,
        )
    finally:
        close_all()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.postgres
def test_sqlite_golds_imported_onto_postgres_are_reported_not_stored(
    pg_target: TargetDatabase, target_db: TargetDatabase, tmp_path: Path
) -> None:
    sqls = [GOOD, DOUBLE_QUOTED, UNGROUPED]
    for sql_text in sqls:  # All three run where they were written.
        verify_gold(target_db, sql_text)
    path = jsonl(tmp_path, pg_target.name, sqls)
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 golden queries do not run"):
        call_command("import_goldens", "--format", "jsonl", "--file", str(path),
                     stderr=err)  # fmt: skip
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith("  line ")]
    assert lines[0].startswith("  line 2 (concerts-pg, jsonl-golden:2): ")
    assert 'column "France" does not exist' in lines[0]
    assert lines[1].startswith("  line 3 (concerts-pg, jsonl-golden:3): ")
    assert "must appear in the GROUP BY clause" in lines[1]
    assert not GoldenExample.objects.exists()
    out, _ = import_jsonl(path, "--skip-invalid")
    assert GoldenExample.objects.get().sql == GOOD
    assert "line 2 (concerts-pg, jsonl-golden:2): " in out


@pytest.mark.postgres
def test_a_sqlite_set_moved_to_postgres_runs_there_except_what_cannot(
    pg_target: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, pg_target.name, [GOOD, DOUBLE_QUOTED, UNGROUPED])
    out, _ = import_jsonl(path, "--from-dialect", "sqlite", "--skip-invalid")
    assert "created 2" in out
    assert "line 3 (concerts-pg, jsonl-golden:3): " in out
    assert "must appear in the GROUP BY clause" in out
    moved = GoldenExample.objects.get(original_sql=DOUBLE_QUOTED)
    assert moved.sql == "SELECT COUNT(*) FROM singer WHERE country = 'France'"
    assert (moved.original_dialect, moved.transpiled_with) == (
        "sqlite",
        SQLGLOT_VERSION,
    )
    assert verify_gold(pg_target, moved.sql).result.rows == [(4,)]


@pytest.mark.postgres
def test_a_double_quoted_gold_on_postgres_is_a_gold_error_not_a_miss(
    pg_target: TargetDatabase, ml_lead: User, model_v1: ModelVersion
) -> None:
    template = create_template(
        name="concerts-pg",
        description="Concert questions on PostgreSQL",
        owner=ml_lead,
        risk_tier=2,
        target_database=pg_target,
        acting_user=ml_lead,
    )
    goldens = add_goldens(pg_target)
    # Stored before golden queries were checked on their target.
    broken = legacy_golden(pg_target, "How many French singers?", DOUBLE_QUOTED)
    run = finished_run(
        prompt_with(template, ml_lead, correct=range(6)),
        model_v1,
        legacy_snapshot([*goldens, broken]),
    )
    assert run.status == EvaluationRun.Status.SUCCEEDED
    item = run.results.get(golden_example=broken)
    assert item.error_kind == "gold_error" and not item.scored
    assert 'column "France" does not exist' in item.error
    assert run.summary["overall"]["execution_accuracy"] == 1.0
    assert run.summary["overall"]["n"] == 6
    assert run.summary["gold_errors"] == [
        {"golden_example": broken.pk, "error": item.error}
    ]


def test_the_admin_shows_what_a_transpiled_gold_was_written_as(
    target_db: TargetDatabase, ml_lead: User, tmp_path: Path, client: Client
) -> None:
    ilike = "SELECT name FROM singer WHERE country ILIKE 'france'"
    import_jsonl(jsonl(tmp_path, target_db.name, [ilike]), "--from-dialect", "postgres")
    example = GoldenExample.objects.get()
    client.force_login(ml_lead)
    page = client.get(f"/admin/evaluation/goldenexample/{example.pk}/change/")
    assert page.status_code == 200
    assert b"country ILIKE" in page.content
    assert SQLGLOT_VERSION.encode() in page.content
