"""Reading a DuckDB target back into SQLite for neighbour generation."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import duckdb
import pytest

from targets.load_plan import plan_load
from targets.load_writers import write_duckdb
from targets.snapshot import SnapshotError, snapshot_to_sqlite
from tests.helpers import DATA

SOURCE = DATA / "spider" / "database" / "concert_singer" / "concert_singer.sqlite"


@pytest.fixture
def duck(tmp_path: Path) -> Path:
    path = tmp_path / "concert_singer.duckdb"
    write_duckdb(plan_load(SOURCE), path=path, replace=False)
    return path


def test_a_snapshot_keeps_kinds_keys_and_rows_as_the_engine_holds_them(
    duck: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "snap.sqlite"
    snapshot_to_sqlite(engine="duckdb", location=duck, dest=dest)
    with duckdb.connect(str(duck), read_only=True) as conn:
        engine_fks = conn.execute(
            "SELECT table_name, constraint_column_names, referenced_table, "
            "referenced_column_names FROM duckdb_constraints() "
            "WHERE constraint_type = 'FOREIGN KEY' ORDER BY table_name"
        ).fetchall()
        singers = sorted(conn.execute("SELECT * FROM singer").fetchall())
    snap = sqlite3.connect(dest)
    try:
        pk = [
            row[1]
            for row in sorted(
                snap.execute("PRAGMA table_info(singer_in_concert)"),
                key=lambda r: r[5],
            )
            if row[5]
        ]
        assert pk == ["concert_ID", "Singer_ID"]
        fks = sorted(
            (table, [row[3]], row[2], [row[4]])
            for table in ("concert", "singer_in_concert")
            for row in snap.execute(f"PRAGMA foreign_key_list({table})")
        )
        assert fks == sorted((t, list(c), p, list(r)) for t, c, p, r in engine_fks)
        assert fks  # the load keeps singer_in_concert -> concert
        kinds = {row[1]: row[2] for row in snap.execute("PRAGMA table_info(singer)")}
        assert (kinds["Age"], kinds["Name"]) == ("INTEGER", "TEXT")
        assert sorted(snap.execute("SELECT * FROM singer").fetchall()) == singers
    finally:
        snap.close()


def test_the_same_content_gives_the_same_file(duck: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    snapshot_to_sqlite(engine="duckdb", location=duck, dest=first)
    snapshot_to_sqlite(engine="duckdb", location=duck, dest=second)
    assert first.read_bytes() == second.read_bytes()


def test_an_unreadable_target_is_a_snapshot_error_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "snap.sqlite"
    with pytest.raises(SnapshotError, match="cannot read the duckdb target"):
        snapshot_to_sqlite(
            engine="duckdb", location=tmp_path / "none.duckdb", dest=dest
        )
    assert not dest.exists()
    with pytest.raises(SnapshotError, match="cannot snapshot a sqlite target"):
        snapshot_to_sqlite(engine="sqlite", location=SOURCE, dest=dest)
    assert not dest.exists()
