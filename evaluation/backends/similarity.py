"""Question similarity for few-shot selection and the retrieval baseline (Django-free).

TF-IDF cosine over word tokens: dependable, deterministic and fast for the few
hundred examples a prompt holds, with no model to download. Stop words are dropped
and plural "s" stripped so that "singers" and "singer" meet.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

__all__ = ["nearest", "rank", "tokens"]

_WORD = re.compile(r"[a-z0-9]+")
_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "of",
        "on",
        "or",
        "show",
        "list",
        "give",
        "find",
        "tell",
        "please",
        "that",
        "the",
        "their",
        "them",
        "there",
        "these",
        "this",
        "those",
        "to",
        "was",
        "we",
        "were",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "with",
        "you",
        "your",
    ]
)


# Counting is asked in many ways ("how many", "the number of"); one token for all
# of them lets paraphrases of a counting question meet.
_SYNONYMS = {"many": "count", "number": "count", "quantity": "count"}


def tokens(text: str) -> list[str]:
    """Lower-cased content words, with a plural "s" removed."""
    words = []
    for word in _WORD.findall(text.lower()):
        if word in _STOP_WORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(_SYNONYMS.get(word, word))
    return words


def _weights(counts: Counter[str], idf: dict[str, float]) -> dict[str, float]:
    vector = {t: (1.0 + math.log(n)) * idf.get(t, 0.0) for t, n in counts.items()}
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


def rank(query: str, documents: Sequence[str]) -> list[tuple[int, float]]:
    """(index, cosine similarity) of every document, most similar first.

    Ties keep document order, so the same inputs always give the same ranking.
    """
    bags = [Counter(tokens(d)) for d in documents]
    frequency: Counter[str] = Counter()
    for bag in bags:
        frequency.update(bag.keys())
    total = len(documents)
    idf = {t: math.log((1 + total) / (1 + df)) + 1.0 for t, df in frequency.items()}
    wanted = _weights(Counter(tokens(query)), idf)
    scores = []
    for index, bag in enumerate(bags):
        vector = _weights(bag, idf)
        scores.append((index, sum(w * vector.get(t, 0.0) for t, w in wanted.items())))
    return sorted(scores, key=lambda pair: (-pair[1], pair[0]))


def nearest(query: str, documents: Sequence[str], k: int) -> list[int]:
    """Indexes of the `k` documents most similar to `query`."""
    return [index for index, _ in rank(query, documents)[: max(k, 0)]]
