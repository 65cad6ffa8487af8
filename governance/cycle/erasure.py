"""Erasure hook of the retraining cycle: dataset snapshot rows and cycle
comparisons that copied an erased person's text (`feedback.erasure`).

Rows and entries keep their ids, segments and counts; only the question and
SQL texts become placeholders. A snapshot's content hash then no longer
matches its rows: the hash stays as the snapshot's identity, and the erasure
lists the snapshots it touched.
"""

from __future__ import annotations

from typing import Any

from audit.appendonly import overwrite_written_once
from feedback.erasure import ERASED, ErasureScope, Report
from governance.cycle.models import DatasetSnapshot, RetrainingCycle

TEXT_KEYS = ("question", "sql")
ITEM_TEXT_KEYS = ("question", "champion_sql", "challenger_sql")


def _erase_rows(rows: list[dict[str, Any]], scope: ErasureScope) -> bool:
    hit = False
    for row in rows:
        if scope.touched(row):
            for key in TEXT_KEYS:
                if row.get(key):
                    row[key] = ERASED
            hit = True
    return hit


def _erase_comparison(
    comparison: dict[str, Any], scope: ErasureScope, copied: bool
) -> bool:
    """Erase entries of erased golden examples and, when a compared prompt
    held the person's example (`copied`), predictions equal to their SQL."""
    hit = False
    for key in ("fixed", "broken"):
        for entry in comparison.get(key) or []:
            if entry.get("golden_example_id") in scope.golden_ids:
                for text in ITEM_TEXT_KEYS:
                    entry[text] = ERASED
                hit = True
            for text in ("champion_sql", "challenger_sql"):
                if copied and entry.get(text) in scope.sqls:
                    entry[text] = ERASED
                    hit = True
    return hit


def _copied(cycle: Any, scope: ErasureScope) -> bool:
    prompts = {cycle.champion_prompt_id, cycle.challenger_prompt_id}
    return bool(prompts & scope.prompt_version_ids)


def erase_cycle_copies(scope: ErasureScope) -> Report:
    """Erase the scope's texts from dataset snapshot rows and cycle
    comparisons (history included) of the scope's templates."""
    snapshots = []
    for dataset in DatasetSnapshot.objects.filter(template_id__in=scope.template_ids):
        rows = dataset.rows
        if _erase_rows(rows, scope):
            overwrite_written_once(
                DatasetSnapshot.objects.filter(pk=dataset.pk), rows=rows
            )
            snapshots.append(dataset.pk)
    cycles = []
    for cycle in RetrainingCycle.objects.filter(template_id__in=scope.template_ids):
        if _erase_comparison(cycle.comparison, scope, _copied(cycle, scope)):
            cycle._change_reason = scope.reason  # type: ignore[attr-defined]
            cycle.save(update_fields=["comparison"])
            cycles.append(cycle.pk)
    history = RetrainingCycle.history.model
    for row in history.objects.filter(template_id__in=scope.template_ids):
        if _erase_comparison(row.comparison, scope, _copied(row, scope)):
            history.objects.filter(pk=row.pk).update(comparison=row.comparison)
    return {
        "governance_datasetsnapshot": {
            "columns": ["rows"],
            "ids": sorted(str(pk) for pk in snapshots),
        },
        "governance_retrainingcycle": {
            "columns": ["comparison"],
            "ids": sorted(str(pk) for pk in cycles),
        },
        "governance_historicalretrainingcycle": {
            "columns": ["comparison"],
            "ids": sorted(str(pk) for pk in cycles),
        },
    }
