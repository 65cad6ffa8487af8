"""Contamination and drift checks for retraining data (Django-free).

A candidate (an approved correction, or a few-shot example the prompt already
holds) must not be a golden example of the snapshot the challenger is evaluated
on, or the comparison measures memory instead of skill. Three checks, in order:

1. provenance: the candidate *is* a golden example (same golden id), or it comes
   from the interaction or feedback event a golden example was approved from;
2. normalized question: equal after `feedback.redaction.normalize_question`
   (NFKC, case folded, whitespace collapsed, trailing punctuation dropped);
3. near-duplicate question: Jaccard similarity of the two questions' sets of
   word tokens (normalized as above, split on anything that is not a letter or
   digit) of at least `NEAR_DUPLICATE_THRESHOLD` (0.8). On the 110 paraphrase
   pairs of the demo's six Spider dev databases (same SQL, reworded question)
   the median is 0.42 and 2 pairs reach 0.8, both rewordings of a few function
   words: exactly the pairs a test set should not lend to a prompt.

A candidate whose SQL equals a golden example's SQL under a different question
is allowed (that is what learning from feedback looks like) but counted, and
the evaluation reports accuracy on "seen" and "unseen" golden SQL separately.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from feedback.redaction import normalize_question

__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "REASONS",
    "Candidate",
    "Golden",
    "Verdict",
    "check_candidates",
    "contamination_counts",
    "jaccard",
    "question_tokens",
    "segment_shares",
    "total_variation",
]

NEAR_DUPLICATE_THRESHOLD = 0.8
PROVENANCE, NORMALIZED, NEAR_DUPLICATE = (
    "provenance",
    "normalized_question",
    "near_duplicate",
)
REASONS = (PROVENANCE, NORMALIZED, NEAR_DUPLICATE)
_WORD = re.compile(r"[^\W_]+")


@dataclass(frozen=True, slots=True)
class Golden:
    """A golden example of the evaluation snapshot, as the checks need it."""

    id: int
    question: str
    normalized_sql: str
    source_interaction_id: str = ""
    source_feedback_id: str = ""


@dataclass(frozen=True, slots=True)
class Candidate:
    """An example that may enter a prompt or a training export."""

    key: str
    question: str
    normalized_sql: str
    golden_example_id: int | None = None
    interaction_id: str = ""
    feedback_id: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Why a candidate is excluded (`reason`, empty when clean) and SQL sharing."""

    key: str
    reason: str
    golden_id: int | None
    similarity: float
    shares_sql: bool

    @property
    def clean(self) -> bool:
        return not self.reason


def question_tokens(question: str) -> frozenset[str]:
    """The set of word tokens of the normalized question."""
    return frozenset(_WORD.findall(normalize_question(question)))


def jaccard(left: frozenset[str], right: frozenset[str]) -> float:
    """Shared tokens over all tokens; two empty sets are identical (1.0)."""
    union = left | right
    return len(left & right) / len(union) if union else 1.0


def _verdict(
    candidate: Candidate,
    goldens: Sequence[Golden],
    golden_tokens: Sequence[frozenset[str]],
    by_question: Mapping[str, int],
    by_source: Mapping[str, int],
    golden_ids: frozenset[int],
    golden_sql: frozenset[str],
    threshold: float,
) -> Verdict:
    shares = bool(candidate.normalized_sql) and candidate.normalized_sql in golden_sql
    if candidate.golden_example_id in golden_ids:
        golden_id = candidate.golden_example_id
        return Verdict(candidate.key, PROVENANCE, golden_id, 1.0, shares)
    for source in (candidate.interaction_id, candidate.feedback_id):
        if source and source in by_source:
            return Verdict(candidate.key, PROVENANCE, by_source[source], 1.0, shares)
    normalized = normalize_question(candidate.question)
    if normalized in by_question:
        return Verdict(candidate.key, NORMALIZED, by_question[normalized], 1.0, shares)
    tokens = question_tokens(candidate.question)
    best, best_id = 0.0, None
    for golden, other in zip(goldens, golden_tokens, strict=True):
        similarity = jaccard(tokens, other)
        if similarity > best:
            best, best_id = similarity, golden.id
    if best >= threshold:
        return Verdict(candidate.key, NEAR_DUPLICATE, best_id, best, shares)
    return Verdict(candidate.key, "", best_id, best, shares)


def check_candidates(
    candidates: Iterable[Candidate],
    goldens: Sequence[Golden],
    *,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
) -> list[Verdict]:
    """One verdict per candidate, in order (the first failing check names it).

    Deterministic: ties in similarity keep the first golden example.
    """
    by_question: dict[str, int] = {}
    by_source: dict[str, int] = {}
    for golden in goldens:
        by_question.setdefault(normalize_question(golden.question), golden.id)
        for source in (golden.source_interaction_id, golden.source_feedback_id):
            if source:
                by_source.setdefault(source, golden.id)
    golden_tokens = [question_tokens(g.question) for g in goldens]
    golden_ids = frozenset(g.id for g in goldens)
    golden_sql = frozenset(g.normalized_sql for g in goldens if g.normalized_sql)
    return [
        _verdict(
            candidate,
            goldens,
            golden_tokens,
            by_question,
            by_source,
            golden_ids,
            golden_sql,
            threshold,
        )
        for candidate in candidates
    ]


def contamination_counts(verdicts: Sequence[Verdict]) -> dict[str, int]:
    """Checked, excluded per reason, clean, and clean ones sharing a golden SQL."""
    reasons = Counter(v.reason for v in verdicts if v.reason)
    return {
        "checked": len(verdicts),
        **{reason: reasons.get(reason, 0) for reason in REASONS},
        "excluded": sum(reasons.values()),
        "clean": sum(1 for v in verdicts if v.clean),
        "shared_sql": sum(1 for v in verdicts if v.clean and v.shares_sql),
    }


def segment_shares(counts: Mapping[str, int]) -> dict[str, float]:
    """Counts per segment as shares of the total (empty for no rows)."""
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())} if total else {}


def total_variation(left: Mapping[str, int], right: Mapping[str, int]) -> float:
    """Total variation distance between two segment distributions, in [0, 1].

    Half the sum of absolute share differences: 0 for the same mix, 1 for
    disjoint segments. Undefined (0.0 here) when either side is empty.
    """
    p, q = segment_shares(left), segment_shares(right)
    if not p or not q:
        return 0.0
    return sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q)) / 2
