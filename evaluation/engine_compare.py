"""Which imported golds change their result when moved to another engine.

`import_goldens --from-dialect sqlite --compare-with <sqlite target>` runs each
moved item's SQL as written on the source engine's target too, and lists the
items whose result there differs from the result on their own target, or that
could not be moved at all, each with a reason (`evaluation.engine_differences`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from evaluation.engine_differences import (
    UNTRANSPILABLE,
    Difference,
    classify_error,
    compare_across,
)
from evaluation.import_items import (
    CheckedGold,
    ImportFileError,
    ImportItem,
    UnrunnableItem,
)
from targets.execution import run_on_target
from targets.models import TargetDatabase
from targets.sandbox import SandboxError
from targets.sqlgate import SQLRejected

__all__ = ["MovedDifference", "compare_with_source", "source_target"]

SOURCE_FAILS = "fails on the source engine too"


@dataclass(frozen=True)
class MovedDifference:
    """An item whose result is not the same on the source engine and its target."""

    line: int
    external_id: str
    db: str
    reason: str
    evidence: str

    def as_dict(self) -> dict[str, object]:
        """The JSON shape reports use."""
        return {
            "line": self.line,
            "id": self.external_id,
            "db": self.db,
            "reason": self.reason,
            "evidence": self.evidence,
        }


def source_target(name: str, *, from_dialect: str) -> TargetDatabase:
    """The target `--compare-with` names; it must speak the file's dialect.

    Raises ImportFileError (field ``compare_with``) otherwise.
    """
    if not from_dialect:
        raise ImportFileError(
            "Comparing engines needs the dialect the file was written in.",
            field="compare_with",
        )
    target = TargetDatabase.objects.filter(name=name).first()
    if target is None:
        raise ImportFileError(f"No target database {name!r}.", field="compare_with")
    if target.dialect != from_dialect:
        raise ImportFileError(
            f"{name!r} runs {target.dialect}, not {from_dialect}: compare with a "
            "target of the file's dialect.",
            field="compare_with",
        )
    return target


def _difference(
    item: ImportItem,
    source: TargetDatabase,
    checked: CheckedGold | None,
    failed: UnrunnableItem | None,
) -> Difference | None:
    try:
        rows = run_on_target(source, item.sql).rows
    except (SQLRejected, SandboxError) as exc:
        return Difference(SOURCE_FAILS, str(exc).splitlines()[0][:200])
    if failed is not None:
        if failed.stage == "transpile":
            return Difference(UNTRANSPILABLE, failed.message)
        return classify_error(failed.message)
    assert checked is not None  # noqa: S101 (the caller passes one of the two)
    return compare_across(
        sql=item.sql,
        source_rows=rows,
        target=list(checked.proof.result.rows),
        order_matters="order by" in item.sql.lower(),
    )


def compare_with_source(
    *,
    items: Sequence[ImportItem],
    proofs: dict[str, CheckedGold],
    unrunnable: Sequence[UnrunnableItem],
    targets: dict[str, TargetDatabase],
    source: TargetDatabase,
) -> list[MovedDifference]:
    """The new items moved to another engine whose result changed there, and why.

    Items whose target speaks the source's dialect and items already stored
    are left alone. Each moved item's SQL as written runs
    on `source` through the gate and the sandbox; reads only.
    """
    failed = {u.external_id: u for u in unrunnable}
    differences = []
    for item in items:
        target = targets.get(item.db)
        if target is None or target.dialect == source.dialect:
            continue
        checked = proofs.get(item.external_id)
        failure = failed.get(item.external_id)
        if checked is None and failure is None:
            continue
        found = _difference(item, source, checked, failure)
        if found is not None:
            differences.append(
                MovedDifference(
                    item.line, item.external_id, item.db, found.reason, found.evidence
                )
            )
    return differences
