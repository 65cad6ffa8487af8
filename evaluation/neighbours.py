"""Neighbour databases for test-suite execution (Zhong, Yu and Klein, 2020).

A neighbour keeps the source SQLite schema verbatim (types, primary keys, foreign
keys, indexes, views) and fills it with rows sampled from the source, values
fuzzed within each column's domain: numbers perturbed, strings drawn from the
column's own values or given case/whitespace variants, dates shifted. Primary keys
stay unique, and every foreign key points at a row of the neighbour's parent
table. Generation is deterministic: the random stream is seeded by the seed, the
source's content hash, the neighbour number and the table name.

Django-free. Files live in one folder per source: ``<n>.sqlite`` and a
``manifest.json`` holding the source hash; they are regenerated when the source,
the seed, the count or this generator changes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import random
import re
import sqlite3
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "GENERATOR_VERSION",
    "NEIGHBOURS",
    "NeighbourSet",
    "ensure_neighbours",
    "generate_neighbour",
    "source_hash",
]

GENERATOR_VERSION = 1
NEIGHBOURS = 5
# Share of non-key values fuzzed per row; the rest keep the sampled row's value so
# that golden filters still find rows on most neighbours.
FUZZ_RATE = 0.5
VARIANT_RATE = 0.2
# Rows read per source table (the first ones, for determinism): neighbours of a
# large target stay small enough to build in seconds and to scan per item.
MAX_SOURCE_ROWS = 20_000
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")
_NUMBER_TEXT = re.compile(r"^-?\d{1,9}$")
_MANIFEST = "manifest.json"


@dataclass(frozen=True, slots=True)
class NeighbourSet:
    """The neighbour files of one source database, in neighbour order."""

    source: Path
    source_hash: str
    paths: tuple[Path, ...]


@dataclass(frozen=True, slots=True)
class _Column:
    name: str
    declared: str
    pk: int


@dataclass(frozen=True, slots=True)
class _ForeignKey:
    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...]


@dataclass
class _Table:
    name: str
    columns: list[_Column]
    foreign_keys: list[_ForeignKey]
    rows: list[tuple[Any, ...]]


def source_hash(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lenient_text(raw: bytes) -> str:
    return raw.decode(errors="ignore")


def _read_tables(conn: sqlite3.Connection) -> dict[str, _Table]:
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    lowered = {name.lower(): name for name in names}
    tables: dict[str, _Table] = {}
    for name in names:
        columns = [
            _Column(row[1], str(row[2] or "").lower(), int(row[5]))
            for row in conn.execute(f"PRAGMA table_info({_quote(name)})")
        ]
        grouped: dict[int, list[tuple[str, str, str | None]]] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({_quote(name)})"):
            grouped.setdefault(row[0], []).append((row[2], row[3], row[4]))
        keys = []
        for parts in grouped.values():
            parent = lowered.get(parts[0][0].lower())
            if parent is None:
                continue  # Spider has foreign keys to missing tables: plain columns.
            parent_pk = _primary_key(conn, parent)
            targets = [to for _, _, to in parts]
            if any(t is None for t in targets):
                if len(parent_pk) != len(parts):
                    continue
                targets = list(parent_pk)
            keys.append(
                _ForeignKey(
                    parent,
                    tuple(frm for _, frm, _ in parts),
                    tuple(str(t) for t in targets),
                )
            )
        rows = conn.execute(
            f"SELECT * FROM {_quote(name)} LIMIT {MAX_SOURCE_ROWS}"  # noqa: S608
        ).fetchall()
        tables[name] = _Table(name, columns, keys, [tuple(r) for r in rows])
    return tables


def _primary_key(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    info = list(conn.execute(f"PRAGMA table_info({_quote(table)})"))
    return tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5])


def _parents_first(tables: dict[str, _Table]) -> list[str]:
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            return  # A cycle: its back edge is filled with whatever exists.
        state[name] = 1
        for key in tables[name].foreign_keys:
            if key.parent != name:
                visit(key.parent)
        state[name] = 2
        order.append(name)

    for name in sorted(tables):
        visit(name)
    return order


def _column_index(columns: Sequence[_Column], name: str) -> int | None:
    for i, column in enumerate(columns):
        if column.name.lower() == name.lower():
            return i
    return None


def _perturb_int(value: int, rng: random.Random) -> int:
    spread = max(1, round(abs(value) * 0.1))
    return value + rng.choice([-1, 1]) * rng.randint(1, spread)


def _perturb_float(value: float, rng: random.Random) -> float:
    if not math.isfinite(value):
        return value
    if value == 0:
        return round(rng.uniform(-1, 1), 2)
    return round(value * rng.uniform(0.8, 1.2), 2)


def _shift_date(text: str, rng: random.Random) -> str:
    match = _DATE.match(text)
    if match is None:
        return text
    try:
        day = dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return text
    shifted = day + dt.timedelta(days=rng.randint(-400, 400))
    return shifted.isoformat() + text[match.end() :]


def _variant(text: str, rng: random.Random) -> str:
    choices = [text.upper(), text.lower(), text.title(), f" {text}", f"{text} "]
    return rng.choice([c for c in choices if c != text] or [text + " "])


def _fuzz(value: Any, domain: Sequence[Any], rng: random.Random, *, flag: bool) -> Any:
    if value is None or isinstance(value, bytes):
        return value
    if flag:
        return rng.choice(domain)
    if isinstance(value, int):
        return _perturb_int(value, rng)
    if isinstance(value, float):
        return _perturb_float(value, rng)
    text = str(value)
    if _DATE.match(text):
        return _shift_date(text, rng)
    if _NUMBER_TEXT.match(text):
        return str(_perturb_int(int(text), rng))
    if rng.random() < VARIANT_RATE:
        return _variant(text, rng)
    return rng.choice(domain) if domain else text


def _domains(table: _Table) -> list[list[Any]]:
    return [
        sorted({r[i] for r in table.rows if r[i] is not None}, key=repr)
        for i in range(len(table.columns))
    ]


@dataclass
class _Link:
    """A foreign key resolved to column positions and the parent's key values."""

    at: list[int]
    parent_at: list[int]
    keys: list[tuple[Any, ...]]
    known: set[tuple[Any, ...]]
    self_reference: bool


def _link(
    table: _Table,
    key: _ForeignKey,
    made: dict[str, list[tuple[Any, ...]]],
    columns: dict[str, list[_Column]],
) -> _Link | None:
    at = [_column_index(table.columns, c) for c in key.columns]
    parent_at = [_column_index(columns[key.parent], c) for c in key.parent_columns]
    if None in at or None in parent_at:
        return None
    keys = [
        tuple(p[j] for j in parent_at if j is not None)
        for p in made.get(key.parent, [])
    ]
    positions = [i for i in at if i is not None]
    parent_positions = [j for j in parent_at if j is not None]
    return _Link(positions, parent_positions, keys, set(keys), key.parent == table.name)


def _point_at_parent(row: list[Any], link: _Link, rng: random.Random) -> None:
    if all(row[i] is None for i in link.at):
        return  # A null reference stays null: it points at nothing.
    current = tuple(row[i] for i in link.at)
    if current in link.known and rng.random() < 0.5:
        return
    chosen = rng.choice(link.keys) if link.keys else (None,) * len(link.at)
    for i, value in zip(link.at, chosen, strict=True):
        row[i] = value


def _fill(
    table: _Table,
    made: dict[str, list[tuple[Any, ...]]],
    columns: dict[str, list[_Column]],
    rng: random.Random,
) -> list[tuple[Any, ...]]:
    if not table.rows:
        return []
    source = table.rows
    wanted = rng.randint(max(1, math.ceil(len(source) * 0.5)), len(source) * 3 // 2 + 1)
    domains = _domains(table)
    # 0/1 columns are flags: perturbing them would leave their domain.
    flags = [bool(d) and set(d) <= {0, 1} for d in domains]
    key_columns = {c.lower() for fk in table.foreign_keys for c in fk.columns}
    pk_at = [i for i, c in enumerate(table.columns) if c.pk]
    links = [_link(table, key, made, columns) for key in table.foreign_keys]
    out: list[tuple[Any, ...]] = []
    seen: set[tuple[Any, ...]] = set()
    for _ in range(wanted * 3):
        if len(out) >= wanted:
            break
        row = list(rng.choice(source))
        for i, column in enumerate(table.columns):
            if column.name.lower() not in key_columns and rng.random() < FUZZ_RATE:
                row[i] = _fuzz(row[i], domains[i], rng, flag=flags[i])
        for link in links:
            if link is not None:
                _point_at_parent(row, link, rng)
        if pk_at:
            pk = tuple(row[i] for i in pk_at)
            if pk in seen:
                continue
            seen.add(pk)
        out.append(tuple(row))
        for link in links:
            if link is not None and link.self_reference:
                # Later rows may point at this one; the first row points nowhere.
                value = tuple(row[j] for j in link.parent_at)
                link.keys.append(value)
                link.known.add(value)
    return out


def generate_neighbour(source: Path, dest: Path, *, seed: str) -> None:
    """Write one neighbour of ``source`` to ``dest`` (replaced atomically)."""
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    src.text_factory = _lenient_text
    try:
        tables = _read_tables(src)
        ddl = src.execute(
            "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL "
            "AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 "
            "WHEN 'index' THEN 1 ELSE 2 END, rowid"
        ).fetchall()
    finally:
        src.close()
    columns = {name: table.columns for name, table in tables.items()}
    made: dict[str, list[tuple[Any, ...]]] = {}
    for name in _parents_first(tables):
        rng = random.Random(f"{seed}:{name}")  # noqa: S311 -- test data, not secrets
        made[name] = _fill(tables[name], made, columns, rng)
    # A private temporary name: concurrent writers never share a half-written file.
    handle, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    out = sqlite3.connect(tmp)
    try:
        for kind, sql in ddl:
            if kind != "trigger":
                out.execute(sql)
        for name, rows in made.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                out.executemany(
                    f"INSERT OR IGNORE INTO {_quote(name)} VALUES ({marks})",  # noqa: S608
                    rows,
                )
        out.commit()
        out.close()
    except BaseException:
        out.close()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dest)


def _manifest(digest: str, count: int, seed: int) -> dict[str, Any]:
    return {
        "source_hash": digest,
        "count": count,
        "seed": seed,
        "generator": GENERATOR_VERSION,
    }


def ensure_neighbours(
    source: Path, folder: Path, *, count: int = NEIGHBOURS, seed: int = 0
) -> NeighbourSet:
    """The ``count`` neighbours of ``source`` in ``folder``, generated if stale.

    Idempotent: an up-to-date folder (same source hash, count, seed and generator
    version in its manifest) is reused as is. Concurrent callers each write
    identical files and replace them atomically.
    """
    digest = source_hash(source)
    expected = _manifest(digest, count, seed)
    paths = tuple(folder / f"{n}.sqlite" for n in range(1, count + 1))
    manifest = folder / _MANIFEST
    try:
        current = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = None
    if current != expected or not all(p.is_file() for p in paths):
        folder.mkdir(parents=True, exist_ok=True)
        for n, path in enumerate(paths, start=1):
            generate_neighbour(source, path, seed=f"{seed}:{digest}:{n}")
        # Written last and replaced atomically: a manifest names complete files.
        staged = folder / f".{_MANIFEST}.{os.getpid()}.{threading.get_ident()}"
        staged.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
        os.replace(staged, manifest)
    return NeighbourSet(source, digest, paths)
