"""The labelled corpus of corrections and the classifier's per-class figures.

`data/error_taxonomy/spider_dev_corrections.jsonl` holds (generated, corrected)
pairs built from the Spider dev set: the corrected SQL is the dev set's gold
query, the generated SQL a mistake written by hand, labelled with the classes
of `evaluation.error_taxonomy` by its conventions. Django-free: the test and
`bench/taxonomy.py` read it the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from evaluation.error_taxonomy import CLASSES, classify_correction

__all__ = ["ClassFigures", "LabelledPair", "load_corpus", "score_corpus"]


@dataclass(frozen=True, slots=True)
class LabelledPair:
    id: str
    db_id: str
    generated: str
    corrected: str
    classes: frozenset[str]


@dataclass(frozen=True, slots=True)
class ClassFigures:
    """Counts of one class over the corpus, and precision and recall from them."""

    name: str
    support: int
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float | None:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.support if self.support else None


def load_corpus(path: str | Path) -> list[LabelledPair]:
    """Read the JSON Lines corpus; an unknown class label is an error."""
    pairs = []
    for number, line in enumerate(Path(path).read_text("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        unknown = set(row["classes"]) - set(CLASSES)
        if unknown:
            raise ValueError(f"line {number}: unknown classes {sorted(unknown)}")
        pairs.append(
            LabelledPair(
                id=row["id"],
                db_id=row["db_id"],
                generated=row["generated"],
                corrected=row["corrected"],
                classes=frozenset(row["classes"]),
            )
        )
    return pairs


def score_corpus(
    pairs: Iterable[LabelledPair],
    schemas: Mapping[str, Mapping[str, Mapping[str, str]]],
) -> tuple[dict[str, ClassFigures], list[tuple[LabelledPair, tuple[str, ...]]]]:
    """Classify every pair; figures per class and the pairs not matched exactly."""
    counts = {name: [0, 0, 0, 0] for name in CLASSES}
    misses = []
    for pair in pairs:
        predicted = set(
            classify_correction(
                pair.generated, pair.corrected, schema=schemas.get(pair.db_id)
            ).classes
        )
        for name in pair.classes:
            counts[name][0] += 1
        for name in predicted & pair.classes:
            counts[name][1] += 1
        for name in predicted - pair.classes:
            counts[name][2] += 1
        for name in pair.classes - predicted:
            counts[name][3] += 1
        if predicted != pair.classes:
            misses.append((pair, tuple(sorted(predicted))))
    figures = {name: ClassFigures(name, *values) for name, values in counts.items()}
    return figures, misses
