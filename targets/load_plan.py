"""Read a SQLite database and plan its copy to another engine (Django-free).

SQLite types loosely: a column's declared type only gives it an affinity, and
any value fits any column. The plan gives every column one portable kind
(integer, real, text or binary) from its affinity and its actual values, and
converts values only where nothing is lost:

- an empty string in a numeric column becomes NULL;
- a numeric string in a numeric column ('12', '3.5') becomes that number;
- a real in an integer column widens the column to real;
- any other text in a numeric column widens the column to text (values kept);
- bytes that are UTF-8 text become text; other bytes make the column binary;
- dates and booleans stay text, as SQLite stores them ('2010-01-02', 'T'), so
  comparisons with string literals keep working.

Every conversion is counted per column, with a sample, for the caller's report.
Constraints are kept when the data satisfies them on the target: a primary key
with NULL or duplicate values, a NOT NULL column that received NULLs, and a
foreign key that names a missing table or non-unique columns, crosses kinds or
has orphan rows are left out and listed with the reason. Rows are never dropped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from targets.load_values import (
    INTEGER,
    NUMBER,
    REAL,
    TEXT,
    affinity,
    column_kind,
    convert,
    parse_number,
    widened,
)

__all__ = [
    "Coercion",
    "ColumnPlan",
    "ForeignKeyPlan",
    "LoadPlan",
    "SourceError",
    "TablePlan",
    "plan_load",
]


class SourceError(ValueError):
    """The SQLite file cannot be read or holds nothing to load."""


@dataclass
class Coercion:
    """How many values of one column changed on the way, and an example."""

    table: str
    column: str
    change: str
    count: int = 0
    example: str = ""

    def as_dict(self) -> dict[str, object]:
        """JSON shape for reports."""
        return {
            "table": self.table,
            "column": self.column,
            "change": self.change,
            "count": self.count,
            "example": self.example,
        }


@dataclass
class ColumnPlan:
    """One column: its SQLite name and declared type, the kind it gets."""

    name: str
    declared: str
    kind: str
    not_null: bool


@dataclass(frozen=True)
class ForeignKeyPlan:
    """A foreign key kept on the target."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass
class TablePlan:
    """A table as it will be created and filled."""

    name: str
    columns: list[ColumnPlan]
    primary_key: tuple[str, ...]
    foreign_keys: list[ForeignKeyPlan]
    rows: list[tuple[Any, ...]]


@dataclass
class LoadPlan:
    """Tables in creation order (referenced before referencing) and what changed."""

    tables: list[TablePlan]
    coercions: list[Coercion] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def row_count(self) -> int:
        """Rows the plan copies."""
        return sum(len(t.rows) for t in self.tables)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_tables(conn: sqlite3.Connection) -> list[str]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]


def _plan_table(conn: sqlite3.Connection, name: str, plan: LoadPlan) -> TablePlan:
    info = conn.execute("SELECT * FROM pragma_table_info(?)", (name,)).fetchall()
    names = [row[1] for row in info]
    select = ", ".join(_quote(n) for n in names)
    rows = conn.execute(f"SELECT {select} FROM {_quote(name)}").fetchall()  # noqa: S608
    columns = []
    converted: list[list[Any]] = [list(r) for r in rows]
    for index, (_cid, col, declared, not_null, _default, _pk) in enumerate(info):
        values = [row[index] for row in rows]
        aff = affinity(declared or "")
        kind = column_kind(aff, values)
        if widened(aff, kind):
            change = f"column widened from {aff} to {kind}"
            plan.coercions.append(Coercion(name, col, change))
        changes: dict[str, Coercion] = {}
        for row_values, value in zip(converted, values, strict=True):
            new, change = convert(value, kind)
            row_values[index] = new
            if change:
                entry = changes.setdefault(change, Coercion(name, col, change))
                entry.count += 1
                entry.example = entry.example or repr(value)[:40]
        plan.coercions.extend(changes.values())
        has_null = any(row[index] is None for row in converted)
        if not_null and has_null:
            plan.dropped.append(f"{name}.{col}: NOT NULL left out (coerced NULLs)")
        columns.append(ColumnPlan(col, declared or "", kind, bool(not_null)))
        columns[-1].not_null = bool(not_null) and not has_null
    pk = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5])
    final = [tuple(r) for r in converted]
    if pk and not _unique([_key(r, names, pk) for r in final], allow_null=False):
        plan.dropped.append(f"{name}: PRIMARY KEY {pk} left out (NULL or duplicate)")
        pk = ()
    return TablePlan(name, columns, pk, [], final)


def _key(
    row: tuple[Any, ...], names: list[str], columns: Sequence[str]
) -> tuple[Any, ...]:
    lowered = [n.lower() for n in names]
    return tuple(row[lowered.index(c.lower())] for c in columns)


def _unique(keys: list[tuple[Any, ...]], *, allow_null: bool) -> bool:
    present = [k for k in keys if all(v is not None for v in k)]
    if len(present) != len(keys) and not allow_null:
        return False
    return len(set(present)) == len(present)


def _find(tables: dict[str, TablePlan], name: str) -> TablePlan | None:
    return next((t for k, t in tables.items() if k.lower() == name.lower()), None)


def _fk_problem(
    table: TablePlan,
    columns: tuple[str, ...],
    ref: TablePlan | None,
    ref_columns: tuple[str, ...],
) -> str:
    if ref is None:
        return "names a missing table"
    if len(columns) != len(ref_columns):
        return "referenced key has another number of columns"
    kinds = {c.name.lower(): c.kind for c in table.columns}
    ref_kinds = {c.name.lower(): c.kind for c in ref.columns}
    if any(c.lower() not in ref_kinds for c in ref_columns) or any(
        c.lower() not in kinds for c in columns
    ):
        return "names a missing column"
    if [kinds[c.lower()] for c in columns] != [
        ref_kinds[c.lower()] for c in ref_columns
    ]:
        return "columns of different kinds"
    if {c.lower() for c in ref_columns} != {c.lower() for c in ref.primary_key}:
        return "referenced columns are not the primary key"
    names = [c.name for c in table.columns]
    ref_names = [c.name for c in ref.columns]
    parents = {_key(r, ref_names, ref_columns) for r in ref.rows}
    for row in table.rows:
        key = _key(row, names, columns)
        if all(v is not None for v in key) and key not in parents:
            return "orphan rows"
    return ""


def _align_to_parent(
    table: TablePlan,
    columns: tuple[str, ...],
    ref: TablePlan,
    ref_columns: tuple[str, ...],
    plan: LoadPlan,
) -> None:
    """Type a text key column holding only numbers like the key it references.

    SQLite compares a text column with an integer one numerically (affinity),
    so joins on such a pair work there; other engines need one type.
    """
    ref_kinds = {c.name.lower(): c.kind for c in ref.columns}
    for name, ref_name in zip(columns, ref_columns, strict=False):
        index = next(
            (i for i, c in enumerate(table.columns) if c.name.lower() == name.lower()),
            None,
        )
        wanted = ref_kinds.get(ref_name.lower())
        if index is None or wanted not in (INTEGER, REAL):
            continue
        column = table.columns[index]
        values = [row[index] for row in table.rows]
        if column.kind != TEXT or not all(
            isinstance(v, str) and NUMBER.match(v) for v in values if v is not None
        ):
            continue
        if wanted == INTEGER and not all(
            isinstance(parse_number(v), int) for v in values if v is not None
        ):
            continue
        column.kind = wanted
        change = Coercion(
            table.name,
            column.name,
            f"numeric text as {wanted}, like {ref.name}.{ref_name} it references",
        )
        for position, row in enumerate(table.rows):
            if row[index] is not None:
                number = parse_number(row[index])
                values_ = list(row)
                values_[index] = float(number) if wanted == REAL else number
                table.rows[position] = tuple(values_)
                change.count += 1
                change.example = change.example or repr(row[index])
        plan.coercions.append(change)


def _foreign_keys(
    conn: sqlite3.Connection, tables: dict[str, TablePlan], plan: LoadPlan
) -> None:
    for table in tables.values():
        fks = conn.execute(
            "SELECT * FROM pragma_foreign_key_list(?)", (table.name,)
        ).fetchall()
        grouped: dict[int, list[tuple[Any, ...]]] = {}
        for row in fks:
            grouped.setdefault(row[0], []).append(row)
        for parts in grouped.values():
            parts.sort(key=lambda r: r[1])
            ref_name = parts[0][2]
            ref = _find(tables, ref_name)
            columns = tuple(p[3] for p in parts)
            ref_columns = tuple(
                p[4] if p[4] is not None else pk
                for p, pk in zip(parts, ref.primary_key if ref else (), strict=False)
            )
            if ref is not None:
                _align_to_parent(table, columns, ref, ref_columns, plan)
            problem = _fk_problem(table, columns, ref, ref_columns)
            if not problem and ref is table:
                problem = "refers to its own table"
            if problem:
                plan.dropped.append(
                    f"{table.name}: FOREIGN KEY {columns} -> {ref_name} left out "
                    f"({problem})"
                )
                continue
            assert ref is not None  # noqa: S101 (checked by _fk_problem)
            table.foreign_keys.append(ForeignKeyPlan(columns, ref.name, ref_columns))


def _creation_order(tables: dict[str, TablePlan], plan: LoadPlan) -> list[TablePlan]:
    ordered: list[TablePlan] = []
    placed: set[str] = set()
    pending = list(tables.values())
    while pending:
        ready = [
            t for t in pending if all(fk.ref_table in placed for fk in t.foreign_keys)
        ]
        if not ready:
            # A cycle: its keys cannot all be declared at creation time.
            cut = pending[0]
            for fk in cut.foreign_keys:
                plan.dropped.append(
                    f"{cut.name}: FOREIGN KEY {fk.columns} -> {fk.ref_table} left "
                    "out (cycle)"
                )
            cut.foreign_keys = []
            ready = [cut]
        for table in ready:
            ordered.append(table)
            placed.add(table.name)
            pending.remove(table)
    return ordered


def plan_load(path: Path) -> LoadPlan:
    """Read the SQLite file at `path` (read-only) and plan its copy.

    Raises SourceError when the file is missing, not SQLite, or has no tables.
    """
    if not path.is_file():
        raise SourceError(f"No SQLite file at {path}.")
    plan = LoadPlan(tables=[])
    try:
        with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
            names = _read_tables(conn)
            conn.text_factory = _text
            tables = {name: _plan_table(conn, name, plan) for name in names}
            _foreign_keys(conn, tables, plan)
    except sqlite3.Error as exc:
        raise SourceError(f"Cannot read {path}: {exc}") from None
    if not tables:
        raise SourceError(f"{path} holds no tables.")
    plan.tables = _creation_order(tables, plan)
    return plan


def _text(raw: bytes) -> str | bytes:
    # Invalid UTF-8 stays bytes, so the planner sees it and keeps it intact.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw
