"""EM recall per equivalence category, and false positives, on the EM corpus and C3SQL.

Reads ``data/em_equivalence/pairs.jsonl`` (built by ``bench/em_corpus.py``) and
prints, with the schema (``--tables``) and without it: the share of equivalent
pairs EM calls equal, per category (categories with a data condition are listed
apart: EM leaves them to EX), and the near-misses EM calls equal (must be 0).
Then on the C3SQL predictions (972 runnable Spider dev items): EM before (the
syntax-only normalizer, kept here for the comparison) and after, and how many EM
items the official evaluator judged wrong (must be 0). Run from the project
root: ``.venv/bin/python -m bench.exact_match``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.exact_match import (  # noqa: E402
    Schema,
    dequote_values,
    known_names,
    normalize_sql,
)
from evaluation.scoring import SQLGLOT_VERSION  # noqa: E402
from evaluation.spider import (  # noqa: E402
    database_path,
    load_tables,
    read_gold,
    read_predictions,
)

DATA = ROOT / "data"
Normalizer = Callable[[str, Schema | None], str | None]


def _strip_top_aliases(tree: exp.Expr) -> exp.Expr:
    selects = [tree] if isinstance(tree, exp.Select) else []
    if isinstance(tree, exp.SetOperation):
        selects = [s for s in tree.find_all(exp.Select) if s.parent_select is None]
    for select in selects:
        aliases = {
            e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)
        }
        order = select.args.get("order")
        for ordered in order.expressions if order else []:
            key = ordered.this
            if isinstance(key, exp.Column) and not key.table and key.name in aliases:
                ordered.set("this", aliases[key.name].copy())
        select.set(
            "expressions",
            [e.this if isinstance(e, exp.Alias) else e for e in select.expressions],
        )
    return tree


def syntax_only(sql: str, schema: Schema | None) -> str | None:
    """The EM normalizer before canonical forms (EM version 1), unchanged."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="sqlite") if s is not None]
        if len(statements) != 1:
            return None
        tree = statements[0]
        if schema is not None:
            tree = dequote_values(tree, known_names(schema))
        tree = qualify(
            tree,
            dialect="sqlite",
            db="main",
            schema=dict(schema) if schema is not None else None,
            validate_qualify_columns=False,
            canonicalize_table_aliases=True,
        )
        return _strip_top_aliases(tree).sql(dialect="sqlite", normalize=True)
    except (SqlglotError, RecursionError, ValueError, KeyError):
        return None


def canonical(sql: str, schema: Schema | None) -> str | None:
    """The current EM normalizer."""
    return normalize_sql(sql, schema=schema)


def _em(norm: Normalizer, left: str, right: str, schema: Schema | None) -> bool:
    text = norm(left, schema)
    return text is not None and text == norm(right, schema)


def corpus(schemas: dict[str, Schema]) -> None:
    """Recall per category and near-miss false positives, with and without schema."""
    pairs = [
        json.loads(line)
        for line in (DATA / "em_equivalence" / "pairs.jsonl").read_text().splitlines()
    ]
    for label, use_schema in (("with --tables", True), ("without --tables", False)):
        hits: dict[tuple[bool, bool, str], list[bool]] = defaultdict(list)
        before: dict[tuple[bool, bool, str], list[bool]] = defaultdict(list)
        for pair in pairs:
            schema = schemas[pair["db_id"]] if use_schema else None
            key = (pair["equivalent"], "condition" in pair, pair["category"])
            hits[key].append(_em(canonical, pair["left"], pair["right"], schema))
            before[key].append(_em(syntax_only, pair["left"], pair["right"], schema))
        print(f"\nEM on the equivalence corpus, {label}")
        print(f"{'category':30} {'pairs':>5} {'EM':>5} {'rate':>6} {'before':>6}")
        for (equivalent, conditional, category), found in sorted(
            hits.items(), key=lambda kv: (not kv[0][0], kv[0][1], kv[0][2])
        ):
            kind = "near-miss" if not equivalent else "if " if conditional else ""
            name = f"{kind} {category}".strip()
            rate = sum(found) / len(found)
            was = sum(before[(equivalent, conditional, category)]) / len(found)
            print(f"{name:30} {len(found):5} {sum(found):5} {rate:6.3f} {was:6.3f}")
        plain = [v for (eq, cond, _), f in hits.items() if eq and not cond for v in f]
        misses = [v for (eq, _, _), f in hits.items() if not eq for v in f]
        print(
            f"recall on unconditional equivalent pairs: {sum(plain)}/{len(plain)} "
            f"= {sum(plain) / len(plain):.3f}; near-misses called equal "
            f"(false positives): {sum(misses)}/{len(misses)}"
        )


def c3sql(schemas: dict[str, Schema]) -> None:
    """EM before and after on C3SQL, and EM items the official EX calls wrong."""
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    preds = read_predictions(DATA / "conformance" / "c3sql_predicted_sql.txt")
    with (DATA / "conformance" / "c3sql_official_exec.tsv").open() as f:
        verdicts = {
            int(r["idx"]): r["official_testsuite_exec"]
            for r in csv.DictReader(f, delimiter="\t")
        }
    root = DATA / "spider" / "database"
    items = [i for i, g in enumerate(gold) if database_path(root, g.db_id).is_file()]
    print(f"\nC3SQL on {len(items)} runnable Spider dev items (EX is the verdict)")
    print(f"{'normalizer':24} {'schema':7} {'EM':>5} {'rate':>6} {'EM & EX wrong':>14}"
          f" {'gold fails':>10} {'ms/query':>8}")  # fmt: skip
    for name, norm in (("syntax-only (before)", syntax_only), ("canonical", canonical)):
        for use_schema in (True, False):
            started = time.perf_counter()
            em = wrong = failed = 0
            for i in items:
                schema = schemas[gold[i].db_id] if use_schema else None
                text = norm(gold[i].query, schema)
                failed += text is None
                if text is not None and text == norm(preds[i], schema):
                    em += 1
                    wrong += verdicts[i] == "0"
            ms = (time.perf_counter() - started) * 1000 / (2 * len(items))
            print(
                f"{name:24} {'yes' if use_schema else 'no':7} {em:5} "
                f"{em / len(items):6.3f} {wrong:14} {failed:10} {ms:8.2f}"
            )


def main() -> None:
    """Print every figure."""
    tables = load_tables(DATA / "spider" / "tables.json")
    schemas: dict[str, Any] = {k: v.sqlglot_schema() for k, v in tables.items()}
    print(f"sqlglot with EM normalizer: {SQLGLOT_VERSION}")
    corpus(schemas)
    c3sql(schemas)


if __name__ == "__main__":
    main()
