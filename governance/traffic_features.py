"""What the drift and diversity triggers read from one interaction (Django-free).

A question is described by its length bucket and its terms; its generated SQL by
the tables and columns it references and by its *shape*: the query with every
literal replaced by a placeholder, so `WHERE id = 1` and `WHERE id = 2` are the
same shape and a new join or filter is a new one.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import NamedTuple

from sqlglot import exp, parse_one
from sqlglot.errors import SqlglotError

__all__ = [
    "NO_SQL",
    "OTHER",
    "SqlProfile",
    "cap_categories",
    "length_bucket",
    "question_terms",
    "sample_bound",
    "sql_profile",
]

NO_SQL = "(no sql)"
OTHER = "(other)"
# Upper bounds (in words) of the question-length buckets; longer is the last one.
LENGTH_BUCKETS = (5, 10, 20, 40)
_WORD = re.compile(r"[a-z][a-z0-9_]{2,}")
# Words every question has: they would dominate the term mix and never shift.
_STOPWORD_TEXT = """
the and for are was were with from that this what which who whom whose how many
much per each all any our their show list give tell find get has have had did
does not but its into than then there where when why you your
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


class SqlProfile(NamedTuple):
    """One query's shape hash ("" if unparsable) and referenced names."""

    shape: str
    tables: frozenset[str]
    columns: frozenset[str]


def _placeholder(node: exp.Expr) -> exp.Expr:
    return exp.Placeholder() if isinstance(node, exp.Literal) else node


def sql_profile(sql: str, *, dialect: str) -> SqlProfile:
    """The shape hash and referenced tables and columns of `sql`.

    Names are lower-cased; CTE names are not tables. Empty or unparsable SQL has
    no shape and no references.
    """
    empty = SqlProfile("", frozenset(), frozenset())
    if not sql.strip():
        return empty
    try:
        tree = parse_one(sql, read=dialect)
    except SqlglotError:
        return empty
    if tree is None:
        return empty
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables = {t.name.lower() for t in tree.find_all(exp.Table) if t.name}
    columns = {c.name.lower() for c in tree.find_all(exp.Column) if c.name}
    text = tree.transform(_placeholder).sql(dialect=dialect, normalize=True)
    shape = hashlib.sha256(text.encode()).hexdigest()[:16]
    return SqlProfile(shape, frozenset(tables - ctes), frozenset(columns))


def length_bucket(question: str) -> str:
    """The question's length in words, bucketed ("1-5", ..., "41+")."""
    words = len(question.split())
    low = 1
    for high in LENGTH_BUCKETS:
        if words <= high:
            return f"{low}-{high}"
        low = high + 1
    return f"{low}+"


def question_terms(question: str) -> set[str]:
    """The distinct content words of a question (three letters or more)."""
    return {w for w in _WORD.findall(question.lower()) if w not in _STOPWORDS}


def cap_categories(
    baseline: Mapping[str, int], current: Mapping[str, int], *, limit: int
) -> tuple[Counter[str], Counter[str]]:
    """Both mixes kept to the `limit` most frequent categories overall, the rest
    summed into `OTHER`: a long tail of rare terms would otherwise add many
    floor-share terms to an index and read as a shift."""
    combined = Counter(baseline) + Counter(current)
    kept = {key for key, _ in combined.most_common(limit)}

    def capped(mix: Iterable[tuple[str, int]]) -> Counter[str]:
        out: Counter[str] = Counter()
        for key, n in mix:
            out[key if key in kept else OTHER] += n
        return out

    return capped(baseline.items()), capped(current.items())


def sample_bound(count: int, limit: int) -> uuid.UUID | None:
    """The event id below which about `limit` of `count` events fall, or None
    when all of them fit.

    Event ids are random UUIDs, so the events below a bound are a uniform
    sample, read through the primary key and the same on every run.
    """
    if count <= limit:
        return None
    return uuid.UUID(int=(2**128 * limit) // count)
