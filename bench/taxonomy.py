"""Precision and recall of the error-taxonomy classifier per class.

Runs `evaluation.error_taxonomy` on the labelled corpus built from the Spider
dev set (`data/error_taxonomy/`) and prints the figures, then every pair whose
predicted classes differ from its labels. Run from the project root:
``.venv/bin/python -m bench.taxonomy``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.error_taxonomy import CLASSIFIER_VERSION  # noqa: E402
from evaluation.spider import load_tables  # noqa: E402
from evaluation.taxonomy_corpus import (  # noqa: E402
    LabelledPair,
    load_corpus,
    score_corpus,
)

CORPORA = {
    "hand-written mistakes on Spider dev gold": "spider_dev_corrections.jsonl",
    "C3SQL's wrong Spider dev predictions": "c3sql_errors.jsonl",
}
CORPUS_DIR = ROOT / "data" / "error_taxonomy"
TABLES = ROOT / "data" / "spider" / "tables.json"


def _pct(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def main() -> None:
    schemas = {k: v.sqlglot_schema() for k, v in load_tables(TABLES).items()}
    for title, name in CORPORA.items():
        report(title, load_corpus(CORPUS_DIR / name), schemas)
        print()


def report(
    title: str, pairs: list[LabelledPair], schemas: dict[str, dict[str, dict[str, str]]]
) -> None:
    started = time.perf_counter()
    figures, misses = score_corpus(pairs, schemas)
    elapsed = time.perf_counter() - started
    print(
        f"{title}: {len(pairs)} labelled pairs, classifier {CLASSIFIER_VERSION}, "
        f"{len(pairs) / elapsed:.0f} pairs/s"
    )
    print(f"{'class':<20}{'support':>8}{'precision':>11}{'recall':>8}")
    for row in figures.values():
        print(
            f"{row.name:<20}{row.support:>8}{_pct(row.precision):>11}"
            f"{_pct(row.recall):>8}"
        )
    exact = len(pairs) - len(misses)
    print(f"exact label sets: {exact}/{len(pairs)}")
    for pair, predicted in misses:
        print(f"  {pair.id}: labelled {sorted(pair.classes)}, got {list(predicted)}")


if __name__ == "__main__":
    main()
