"""import_goldens --compare-with: moved golds whose result changes, and why."""

import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import GoldenExample
from targets.models import TargetDatabase

ROOT = Path(__file__).resolve().parent.parent.parent
CONCERTS = ROOT / "data" / "spider" / "database" / "concert_singer"
SAME = "SELECT count(*) FROM singer"
LIKE = "SELECT name FROM singer WHERE name LIKE 'j%'"
UNGROUPED = "SELECT name, count(*) FROM singer GROUP BY country"


def jsonl(tmp_path: Path, db: str, sqls: list[str]) -> Path:
    path = tmp_path / "golden.jsonl"
    rows = [
        {"question": f"Question {n}?", "sql": sql, "db": db, "id": str(n)}
        for n, sql in enumerate(sqls, 1)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def import_jsonl(path: Path, *flags: str) -> str:
    out = io.StringIO()
    call_command("import_goldens", "--format", "jsonl", "--file", str(path), *flags,
                 stdout=out, stderr=io.StringIO())  # fmt: skip
    return out.getvalue()


def test_compare_with_needs_a_known_target_of_the_files_dialect(
    target_db: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, target_db.name, [SAME])
    for flags, message in [
        (["--compare-with", "concert_singer"], "needs the dialect"),
        (["--from-dialect", "sqlite", "--compare-with", "nope"],
         "No target database 'nope'"),
        (["--from-dialect", "postgres", "--compare-with", "concert_singer"],
         "runs sqlite, not postgres"),
    ]:  # fmt: skip
        with pytest.raises(CommandError, match=message):
            import_jsonl(path, *flags)
    assert not GoldenExample.objects.exists()
    # Nothing moves between two SQLite targets: nothing to list.
    out = import_jsonl(
        path, "--from-dialect", "sqlite", "--compare-with", "concert_singer"
    )
    assert "Results that change from concert_singer to the targets: 0" in out


@pytest.fixture
def pg_concerts(db: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[TargetDatabase]:
    """concert_singer loaded into scratch PostgreSQL by load_target itself."""
    import psycopg
    from psycopg import sql

    from targets.loading import load_target_database
    from targets.sandbox import close_all
    from tests.helpers import admin_dsn, with_dbname

    admin = admin_dsn()
    suffix = uuid.uuid4().hex[:8]
    name, role = f"loopgate_c_cmp_{suffix}", f"lg_ro_cmp_{suffix}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        reader = with_dbname(admin, name, user=role) + f" password=pw{suffix}"
        result = load_target_database(
            source=CONCERTS / "concert_singer.sqlite",
            engine="postgresql",
            name="concert-pg",
            acting_user=None,
            admin_dsn=with_dbname(admin, name),
            dsn_env="LOOPGATE_TARGET_CMP",
            reader_dsn=reader,
        )
        monkeypatch.setenv("LOOPGATE_TARGET_CMP", reader)
        yield result.target
    finally:
        close_all()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.postgres
def test_moved_golds_whose_result_changes_on_postgres_are_listed_with_a_reason(
    pg_concerts: TargetDatabase, target_db: TargetDatabase, tmp_path: Path
) -> None:
    assert os.environ["LOOPGATE_TARGET_CMP"]
    path = jsonl(tmp_path, pg_concerts.name, [SAME, LIKE, UNGROUPED])
    out = import_jsonl(path, "--from-dialect", "sqlite", "--skip-invalid",
                       "--compare-with", target_db.name)  # fmt: skip
    assert "Results that change from concert_singer to the targets: 2" in out
    listed = [ln for ln in out.splitlines() if ln.startswith("  line ")]
    assert any(
        ln.startswith("  line 2 (concert-pg, jsonl-golden:2): case-sensitive LIKE")
        for ln in listed
    )
    assert any(
        ln.startswith("  line 3 (concert-pg, jsonl-golden:3): GROUP BY strictness")
        for ln in listed
    )
    assert not any("line 1 " in ln for ln in listed)


@pytest.fixture
def duck_concerts(db: None, tmp_path: Path) -> Iterator[TargetDatabase]:
    """concert_singer loaded into a DuckDB file by load_target itself."""
    from targets.loading import load_target_database
    from targets.sandbox import close_all

    result = load_target_database(
        source=CONCERTS / "concert_singer.sqlite",
        engine="duckdb",
        name="concert-duck",
        acting_user=None,
        path=tmp_path / "concerts.duckdb",
    )
    yield result.target
    close_all()


def test_moved_golds_whose_result_changes_on_duckdb_are_listed_with_a_reason(
    duck_concerts: TargetDatabase, target_db: TargetDatabase, tmp_path: Path
) -> None:
    path = jsonl(tmp_path, duck_concerts.name, [SAME, LIKE, UNGROUPED])
    out = import_jsonl(path, "--from-dialect", "sqlite", "--skip-invalid",
                       "--compare-with", target_db.name)  # fmt: skip
    assert "Results that change from concert_singer to the targets: 2" in out
    listed = [ln for ln in out.splitlines() if ln.startswith("  line ")]
    # DuckDB's LIKE is case-sensitive: 'j%' misses 'Joe Sharp'.
    assert any(
        ln.startswith("  line 2 (concert-duck, jsonl-golden:2): case-sensitive LIKE")
        for ln in listed
    )
    assert any(
        ln.startswith("  line 3 (concert-duck, jsonl-golden:3): GROUP BY strictness")
        for ln in listed
    )
    assert not any("line 1 " in ln for ln in listed)
    assert GoldenExample.objects.filter(target_database=duck_concerts).count() == 2
