"""Import golden examples from Spider-format files or a team's own JSON Lines file.

Imports are idempotent: every item carries a stable `external_id`, and an id that
is already stored is reused unchanged (never overwritten), so an import can be
rerun after adding a database file or raising `--limit-per-db`.
"""

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from evaluation.dialects import SQLGLOT_VERSION, TranspileError, canonical_dialect
from evaluation.engine_compare import (
    MovedDifference,
    compare_with_source,
    source_target,
)
from evaluation.import_items import (
    CheckedGold,
    ImportFileError,
    ImportItem,
    UnrunnableGoldsError,
    UnrunnableItem,
    check_new_items,
    jsonl_item,
    read_api_items,
)
from evaluation.models import (
    GoldenExample,
    GoldenSetSnapshot,
)
from evaluation.selectors import GoldenSetCounts, golden_set_counts
from evaluation.services import (
    add_golden_example,
    create_snapshot,
    snapshot_content_hash,
)
from evaluation.spider import (
    database_path,
    hardness,
    load_examples,
    load_tables,
    read_gold,
)
from targets.models import TargetDatabase
from targets.schema import sqlite_path
from targets.services import register_target_database

MISSING_FILE = "database file missing"
NOT_IN_TABLES = "database not in tables.json"
UNKNOWN_DATABASE = "database not registered and no file found"


__all__ = [
    "ImportFileError",
    "ImportItem",
    "ImportReport",
    "UnrunnableGoldsError",
    "UnrunnableItem",
    "import_golden_examples",
    "read_api_items",
    "read_jsonl_items",
    "read_spider_items",
    "spider_table_ids",
]


@dataclass
class ImportReport:
    """What an import created, reused and skipped (reason -> db -> items)."""

    targets_created: list[str] = field(default_factory=list)
    targets_reused: list[str] = field(default_factory=list)
    created: int = 0
    reused: int = 0
    skipped: dict[str, Counter[str]] = field(default_factory=dict)
    snapshot: GoldenSetSnapshot | None = None
    snapshot_created: bool = False
    left_out_retired: int = 0
    counts: GoldenSetCounts | None = None
    unrunnable: list[UnrunnableItem] = field(default_factory=list)
    transpiled: int = 0
    differences: list[MovedDifference] = field(default_factory=list)

    @property
    def skipped_total(self) -> int:
        """Number of items skipped for any reason."""
        return sum(sum(by_db.values()) for by_db in self.skipped.values())


def default_id_prefix(path: Path, *, kind: str) -> str:
    """`spider-dev` for dev.json and dev_gold.sql alike (same items, same ids)."""
    stem = path.stem.removesuffix("_gold")
    return f"spider-{stem}" if kind == "spider" else f"jsonl-{stem}"


def read_spider_items(
    *, questions: Path | None, gold: Path | None, id_prefix: str | None = None
) -> list[ImportItem]:
    """Items of a Spider `dev.json`-style file or a `query<TAB>db_id` gold file.

    Ids are `<prefix>:<index>` with the item's position in the file, as the
    official evaluator counts it. A gold file holds no questions: its items get
    a placeholder question and the tag `no-question`.
    """
    if questions is not None and gold is None:
        source, name = questions, "questions"
    elif gold is not None and questions is None:
        source, name = gold, "gold"
    else:
        raise ImportFileError("Give either a questions file or a gold file.")
    _require_file(source, name)
    prefix = id_prefix or default_id_prefix(source, kind="spider")
    try:
        if questions is not None:
            rows = [(e.db_id, e.question, e.query) for e in load_examples(questions)]
            extra: tuple[str, ...] = ()
        else:
            rows = [
                (g.db_id, f"Spider item {i} on {g.db_id} (no question in the file)",
                 g.query)
                for i, g in enumerate(read_gold(source))
            ]  # fmt: skip
            extra = ("no-question",)
    except (ValueError, KeyError, TypeError) as exc:
        raise ImportFileError(f"Cannot read {source}: {exc}", field=name) from None
    items = []
    for index, (db_id, question, sql) in enumerate(rows):
        try:
            level = hardness(sql)
        except ValueError:
            level = GoldenExample.Difficulty.UNKNOWN
        items.append(
            ImportItem(
                external_id=f"{prefix}:{index}",
                db=db_id,
                question=question,
                sql=sql,
                domain=db_id,
                difficulty=level,
                tags=("spider", prefix, *extra),
                line=index + 1,
            )
        )
    return items


def read_jsonl_items(path: Path, *, id_prefix: str | None = None) -> list[ImportItem]:
    """Items of a JSON Lines file: question, sql, db [, domain, difficulty, tags, id].

    `db` names a target database. Without an `id`, the external id hashes the
    (db, question, sql) content, so reordering the file changes nothing.
    Raises ImportFileError naming the first bad line.
    """
    _require_file(path, "jsonl")
    prefix = id_prefix or default_id_prefix(path, kind="jsonl")
    items = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(jsonl_item(json.loads(line), prefix, number))
        except (ValueError, TypeError) as exc:
            raise ImportFileError(
                f"{path} line {number}: {exc}", field="jsonl"
            ) from None
    return items


def spider_table_ids(path: Path) -> set[str]:
    """Database ids declared in a Spider `tables.json`."""
    _require_file(path, "tables")
    try:
        return set(load_tables(path))
    except (ValueError, KeyError, TypeError) as exc:
        raise ImportFileError(f"Cannot read {path}: {exc}", field="tables") from None


def _require_file(path: Path, name: str) -> None:
    if not path.is_file():
        raise ImportFileError(f"No such file: {path}", field=name)


def target_location(path: Path) -> str:
    """Relative to TARGET_DATABASE_ROOT when the file lies under it, else absolute."""
    resolved = path.resolve()
    root = Path(settings.TARGET_DATABASE_ROOT).resolve()
    return str(
        resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
    )


def _database_file(db_dir: Path, db: str) -> Path | None:
    for candidate in (database_path(db_dir, db), db_dir / f"{db}.sqlite"):
        if candidate.is_file():
            return candidate
    return None


def _resolve_target(
    db: str,
    *,
    db_dir: Path | None,
    file_required: bool,
    report: ImportReport,
    acting_user: User | None,
) -> TargetDatabase | str:
    """The target database for `db`, or the reason its items are skipped.

    Spider imports need the file in `db_dir` (`file_required`); JSON Lines
    imports take a registered target of that name first.
    """
    existing = TargetDatabase.objects.filter(name=db).first()
    if existing is not None and not file_required:
        report.targets_reused.append(db)
        return existing
    found = _database_file(db_dir, db) if db_dir is not None else None
    if found is None:
        return MISSING_FILE if file_required else UNKNOWN_DATABASE
    location = target_location(found)
    if existing is not None:
        if existing.engine != TargetDatabase.Engine.SQLITE or (
            sqlite_path(existing.location).resolve() != found.resolve()
        ):
            raise ImportFileError(
                f"Target database {db!r} is registered at {existing.location}, "
                f"not {location}.",
                field="db_dir",
            )
        report.targets_reused.append(db)
        return existing
    target = register_target_database(
        name=db,
        engine=TargetDatabase.Engine.SQLITE,
        location=location,
        description=f"Imported with golden examples from {found.parent}.",
        acting_user=acting_user,
    )
    report.targets_created.append(db)
    return target


def _select(
    items: Sequence[ImportItem], databases: set[str] | None, limit_per_db: int | None
) -> list[ImportItem]:
    if databases is not None:
        missing = databases - {item.db for item in items}
        if missing:
            raise ImportFileError(
                f"No items for the databases {sorted(missing)}.", field="databases"
            )
        items = [item for item in items if item.db in databases]
    taken: Counter[str] = Counter()
    chosen = []
    for item in items:
        if limit_per_db is None or taken[item.db] < limit_per_db:
            taken[item.db] += 1
            chosen.append(item)
    return chosen


@transaction.atomic
def import_golden_examples(
    *,
    items: Iterable[ImportItem],
    db_dir: Path | None,
    acting_user: User | None,
    owner: User | None = None,
    known_databases: set[str] | None = None,
    databases: set[str] | None = None,
    limit_per_db: int | None = None,
    snapshot_name: str | None = None,
    skip_invalid: bool = False,
    from_dialect: str | None = None,
    compare_with: str | None = None,
) -> ImportReport:
    """Register target databases as needed and add golden examples idempotently.

    Spider imports pass `known_databases` (the ids in tables.json) and name
    database files `<db_dir>/<db>/<db>.sqlite`; an item whose file is missing is
    skipped and counted. JSON Lines imports (`known_databases=None`) use a
    registered target of that name, else a file found in `db_dir`. Existing
    external ids are reused unchanged. With `snapshot_name`, the imported,
    non-retired examples are frozen into a snapshot. Every new item's SQL runs
    on its target first (`verify_gold`): unless `skip_invalid` (then the others
    are stored and the failures listed in the report), one failure raises
    UnrunnableGoldsError listing each by line with the engine's message. With
    `from_dialect` (the dialect the SQL was written in), items for a target of
    another dialect are transpiled with sqlglot first and keep their original
    SQL; those sqlglot cannot carry are listed the same way. `compare_with`
    names a target of `from_dialect`: each moved item also runs there as
    written, and the report lists those whose result changes, with a reason
    (`evaluation.engine_compare`). All or
    nothing: an error stores nothing. Records one `evaluation.golden_example.added`
    per new row (and the target and snapshot events) through the golden-set
    services.
    """
    source_dialect = ""
    if from_dialect:
        try:
            source_dialect = canonical_dialect(from_dialect)
        except TranspileError as exc:
            raise ImportFileError(exc.args[0], field="from_dialect") from None
    source = (
        source_target(compare_with, from_dialect=source_dialect)
        if compare_with
        else None
    )
    chosen = _select(list(items), databases, limit_per_db)
    report = ImportReport()
    skipped: dict[str, Counter[str]] = defaultdict(Counter)
    targets: dict[str, TargetDatabase] = {}
    for db in dict.fromkeys(item.db for item in chosen):
        if known_databases is not None and db not in known_databases:
            reason: TargetDatabase | str = NOT_IN_TABLES
        else:
            reason = _resolve_target(
                db,
                db_dir=db_dir,
                file_required=known_databases is not None,
                report=report,
                acting_user=acting_user,
            )
        if isinstance(reason, TargetDatabase):
            targets[db] = reason
        else:
            skipped[reason][db] = sum(1 for item in chosen if item.db == db)
    runnable = [item for item in chosen if item.db in targets]
    wanted = [item.external_id for item in runnable]
    stored = {
        e.external_id: e for e in GoldenExample.objects.filter(external_id__in=wanted)
    }
    proofs, report.unrunnable = check_new_items(
        runnable, stored, targets, from_dialect=source_dialect
    )
    if source is not None:
        report.differences = compare_with_source(
            items=runnable,
            proofs=proofs,
            unrunnable=report.unrunnable,
            targets=targets,
            source=source,
        )
    if report.unrunnable and not skip_invalid:
        raise UnrunnableGoldsError(report.unrunnable)
    examples: list[GoldenExample] = []
    created: set[int] = set()
    for item in runnable:
        example = stored.get(item.external_id)
        if example is not None:
            report.reused += 1
        elif item.external_id in proofs:
            example = _add(
                item, targets[item.db], acting_user, owner, proofs[item.external_id]
            )
            created.add(example.pk)
            report.created += 1
            report.transpiled += bool(proofs[item.external_id].from_dialect)
        else:
            continue
        examples.append(example)
    report.skipped = dict(skipped)
    if snapshot_name:
        _snapshot(report, examples, snapshot_name, acting_user, created)
    report.counts = golden_set_counts()
    return report


def _add(
    item: ImportItem,
    target: TargetDatabase,
    acting_user: User | None,
    owner: User | None,
    checked: CheckedGold,
) -> GoldenExample:
    sql = checked.proof.sql
    difficulty = item.difficulty
    if difficulty is None:
        try:
            difficulty = hardness(sql, dialect=target.dialect)
        except ValueError:
            difficulty = GoldenExample.Difficulty.UNKNOWN
    return add_golden_example(
        target_database=target,
        question=item.question,
        sql=sql,
        source=GoldenExample.Source.IMPORT,
        acting_user=acting_user,
        domain=item.domain,
        difficulty=difficulty,
        tags=list(item.tags),
        owner=owner,
        external_id=item.external_id,
        verified=checked.proof,
        original_sql=item.sql if checked.from_dialect else "",
        original_dialect=checked.from_dialect,
        transpiled_with=SQLGLOT_VERSION if checked.from_dialect else "",
    )


def _snapshot(
    report: ImportReport,
    examples: list[GoldenExample],
    name: str,
    acting_user: User | None,
    verified_ids: set[int],
) -> None:
    active = [e for e in examples if e.retired_at is None]
    report.left_out_retired = len(examples) - len(active)
    if not active:
        raise ImportFileError("Nothing to put in the snapshot.", field="snapshot")
    digest = snapshot_content_hash(active)
    report.snapshot_created = not GoldenSetSnapshot.objects.filter(
        content_hash=digest
    ).exists()
    report.snapshot = create_snapshot(
        name=name, examples=active, acting_user=acting_user, verified_ids=verified_ids
    )
