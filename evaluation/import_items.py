"""Items of a golden import and the check that each runs on its target."""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from config.exceptions import DomainError
from evaluation.dialects import TranspileError, transpile_sql
from evaluation.models import GoldenExample
from targets.exceptions import GoldUnrunnable
from targets.execution import VerifiedGold, verify_gold
from targets.models import TargetDatabase

_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_JSONL_KEYS = {"question", "sql", "db", "domain", "difficulty", "tags", "id"}


class ImportFileError(DomainError):
    """An input file is missing or malformed; nothing was imported."""


@dataclass(frozen=True)
class ImportItem:
    """One golden example to import; `difficulty=None` means derive it.

    `line` is where the item sits in its source: the line of a JSON Lines or
    gold file, the 1-based position in a questions file or an API list.
    """

    external_id: str
    db: str
    question: str
    sql: str
    domain: str = ""
    difficulty: str | None = None
    tags: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class UnrunnableItem:
    """An item whose golden query cannot be moved to or run on its target, and why.

    `stage` is ``transpile`` (sqlglot could not carry it to the target's
    dialect) or ``execute`` (it does not run there).
    """

    line: int
    external_id: str
    db: str
    message: str
    stage: str = "execute"

    def as_dict(self) -> dict[str, object]:
        """The JSON shape the API reports."""
        return {
            "line": self.line,
            "id": self.external_id,
            "db": self.db,
            "message": self.message,
            "stage": self.stage,
        }


class UnrunnableGoldsError(DomainError):
    """Some golden queries do not run on their target; nothing was imported."""

    def __init__(self, unrunnable: list[UnrunnableItem]) -> None:
        lines = ", ".join(str(item.line) for item in unrunnable[:20])
        more = ", ..." if len(unrunnable) > 20 else ""
        how = (
            "cannot be transpiled or do not run"
            if any(item.stage == "transpile" for item in unrunnable)
            else "do not run"
        )
        super().__init__(
            f"{len(unrunnable)} golden queries {how} on their target "
            f"(lines {lines}{more}); nothing was imported. Fix them, or import the "
            "rest with skip_invalid.",
            field="items",
        )
        self.unrunnable = unrunnable
        self.errors = [item.as_dict() for item in unrunnable]


@dataclass(frozen=True)
class CheckedGold:
    """A new item's SQL as it ran on its target; `from_dialect` if transpiled."""

    proof: VerifiedGold
    from_dialect: str = ""


def check_new_items(
    items: Sequence[ImportItem],
    stored: dict[str, GoldenExample],
    targets: dict[str, TargetDatabase],
    *,
    from_dialect: str = "",
) -> tuple[dict[str, CheckedGold], list[UnrunnableItem]]:
    """Carry each new item to its target's dialect and run it there.

    `from_dialect` (a sqlglot name) is the dialect the items were written in;
    items for a target of another dialect are transpiled first. Returns the
    checked items by external id and those that failed. A file naming one id
    twice is checked once per item. Reads only.
    """
    checked: dict[str, CheckedGold] = {}
    failed: list[UnrunnableItem] = []
    for item in items:
        if item.external_id in stored:
            continue
        target = targets[item.db]
        moving = from_dialect if from_dialect not in ("", target.dialect) else ""
        sql = item.sql
        if moving:
            columns = {c for cols in target.schema.values() for c in cols}
            try:
                sql = transpile_sql(
                    item.sql, read=moving, write=target.dialect, columns=columns
                )
            except TranspileError as exc:
                message = f"Cannot transpile from {moving} to {target.dialect}: {exc}"
                failed.append(
                    UnrunnableItem(
                        item.line, item.external_id, item.db, message, "transpile"
                    )
                )
                continue
        try:
            checked[item.external_id] = CheckedGold(verify_gold(target, sql), moving)
        except GoldUnrunnable as exc:
            failed.append(
                UnrunnableItem(item.line, item.external_id, item.db, exc.message)
            )
    return checked, failed


def read_api_items(rows: Sequence[object], *, id_prefix: str) -> list[ImportItem]:
    """Items of an API request: JSON Lines objects, numbered from 1 as lines.

    Raises ImportFileError (field ``items``) naming the first bad item.
    """
    items = []
    for number, row in enumerate(rows, 1):
        try:
            items.append(jsonl_item(row, id_prefix, number))
        except (ValueError, TypeError) as exc:
            raise ImportFileError(f"item {number}: {exc}", field="items") from None
    return items


def jsonl_item(row: object, prefix: str, line: int) -> ImportItem:
    """The item of one JSON Lines object; raises ValueError naming the problem."""
    if not isinstance(row, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(row) - _JSONL_KEYS)
    if unknown:
        raise ValueError(f"unknown keys {unknown}")
    for key in ("question", "sql", "db"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise ValueError(f"{key!r} must be a non-empty string")
    if not _SLUG.match(row["db"]):
        raise ValueError("'db' must be letters, digits, '-' or '_'")
    difficulty = row.get("difficulty")
    if difficulty is not None and difficulty not in GoldenExample.Difficulty.values:
        raise ValueError(
            f"'difficulty' must be one of {GoldenExample.Difficulty.values}"
        )
    tags = row.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("'tags' must be a list of strings")
    domain = row.get("domain", "")
    if not isinstance(domain, str):
        raise ValueError("'domain' must be a string")
    if "id" in row:
        key = str(row["id"])
    else:
        content = "\x1f".join((row["db"], row["question"].strip(), row["sql"].strip()))
        key = "sha-" + hashlib.sha256(content.encode()).hexdigest()[:16]
    return ImportItem(
        external_id=f"{prefix}:{key}",
        db=row["db"],
        question=row["question"],
        sql=row["sql"],
        domain=domain,
        difficulty=difficulty,
        tags=tuple(tags),
        line=line,
    )
