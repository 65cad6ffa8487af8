"""Build the EM equivalence corpus from the Spider dev gold queries.

Every pair is machine-made: a dev gold query (``left``) and a rewrite of it
(``right``) made by editing its sqlglot tree, one category of rewrite per pair.
Equivalent categories rewrite into a query with the same result on every
database; near-misses change the meaning slightly. Both queries of every pair
are executed on the item's database: an equivalent pair is kept only if the
results are equal (Spider EX rules), a near-miss records whether they differ
there (``differs_on_dev_db``) and, when they do not, its ``note`` says on what
data they would. Categories marked with a ``condition`` are equal only on data
meeting it; EM leaves them to EX. Writes ``data/em_equivalence/pairs.jsonl``
(run from the project root: ``.venv/bin/python -m bench.em_corpus``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evaluation.scoring import results_equal, spider_prepare  # noqa: E402
from evaluation.spider import database_path, read_gold  # noqa: E402

DATA = ROOT / "data"
OUT = DATA / "em_equivalence" / "pairs.jsonl"
PER_CATEGORY = 25
Rewrite = Callable[[exp.Expr, dict[str, Any]], exp.Expr | None]


def _sql(tree: exp.Expr) -> str:
    return tree.sql(dialect="sqlite")


def _selects(tree: exp.Expr) -> Iterator[exp.Select]:
    yield from tree.find_all(exp.Select)


# --- equivalent rewrites --------------------------------------------------------


def join_order(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """Inner-joined tables written in reverse order, every ON term in the last ON."""
    select = tree if isinstance(tree, exp.Select) else None
    joins = select.args.get("joins") if select else None
    if not select or not joins:
        return None
    for join in joins:
        if join.side or (join.kind or "").upper() not in {"", "INNER"}:
            return None
        if join.args.get("using"):
            return None
    if any(isinstance(e, exp.Star) for e in select.expressions):
        return None
    tables = [select.args["from_"].this.copy(), *(j.this.copy() for j in joins)]
    terms = [j.args["on"].copy() for j in joins if j.args.get("on")]
    tables.reverse()
    select.set("from_", exp.From(this=tables[0]))
    new_joins = [exp.Join(this=t) for t in tables[1:]]
    if terms:
        new_joins[-1].set("on", exp.and_(*terms))
    select.set("joins", new_joins)
    return tree


def redundant_join(tree: exp.Expr, info: dict[str, Any]) -> exp.Expr | None:
    """A single-table query joined to the table its foreign key references."""
    if not isinstance(tree, exp.Select) or tree.args.get("joins"):
        return None
    table = tree.args["from_"].this
    if not isinstance(table, exp.Table) or table.alias:
        return None
    if any(isinstance(e, exp.Star) for e in tree.expressions):
        return None
    for (src_t, src_c), (dst_t, dst_c) in info["fks"]:
        if src_t.lower() == table.name.lower() and dst_t.lower() != src_t.lower():
            on = f"{table.name}.{src_c} = {dst_t}.{dst_c}"
            tree.set("joins", [exp.Join(this=exp.to_table(dst_t), on=_cond(on))])
            return tree
    return None


def _cond(text: str) -> exp.Expr:
    return sqlglot.parse_one(text, read="sqlite")


def max_order_limit(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """A scalar ``(SELECT max(c) ...)`` operand as ``ORDER BY c DESC LIMIT 1``."""
    for sub in tree.find_all(exp.Subquery):
        inner = sub.this
        if not isinstance(sub.parent, exp.Binary) or not isinstance(inner, exp.Select):
            continue
        if len(inner.expressions) == 1 and isinstance(inner.expressions[0], exp.Max):
            column = inner.expressions[0].this
            if inner.args.get("group") or inner.args.get("order"):
                continue
            inner.set("expressions", [column.copy()])
            inner.set("order", exp.Order(expressions=[
                exp.Ordered(this=column.copy(), desc=True, nulls_first=False)
            ]))  # fmt: skip
            inner.set("limit", exp.Limit(expression=exp.Literal.number(1)))
            return tree
        order, limit = inner.args.get("order"), inner.args.get("limit")
        if (
            order
            and limit
            and len(order.expressions) == 1
            and not inner.args.get("group")
        ):
            (ordered,) = order.expressions
            only = inner.expressions[0] if len(inner.expressions) == 1 else None
            if (
                ordered.args.get("desc")
                and only is not None
                and only == ordered.this
                and limit.expression == exp.Literal.number(1)
            ):
                inner.set("expressions", [exp.Max(this=only.copy())])
                inner.set("order", None)
                inner.set("limit", None)
                return tree
    return None


def set_operand_swap(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """INTERSECT or UNION operands written the other way round."""
    node = tree
    if not isinstance(node, exp.Intersect | exp.Union):
        return None
    if any(node.args.get(k) for k in ("order", "limit")):
        return None
    left, right = node.this.copy(), node.expression.copy()
    node.set("this", right)
    node.set("expression", left)
    return tree


def _reverse_connectors(tree: exp.Expr) -> bool:
    changed = False
    for node in list(tree.find_all(exp.And, exp.Or)):
        node.set("this", node.expression.copy())
        node.set("expression", node.args["this"].copy())
        changed = True
    return changed


def and_or_order(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """AND/OR operands in reverse order."""
    for node in list(tree.find_all(exp.And, exp.Or)):
        left, right = node.this.copy(), node.expression.copy()
        node.set("this", right)
        node.set("expression", left)
        return tree
    return None


def aliases(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """Table aliases renamed (T1 -> a) and output columns given aliases."""
    renamed = {}
    for alias in tree.find_all(exp.TableAlias):
        if alias.name.upper().startswith("T") and alias.name[1:].isdigit():
            renamed[alias.name.lower()] = f"x{alias.name[1:]}"
            alias.set("this", exp.to_identifier(renamed[alias.name.lower()]))
    for column in tree.find_all(exp.Column):
        if column.table.lower() in renamed:
            column.set("table", exp.to_identifier(renamed[column.table.lower()]))
    outer = tree if isinstance(tree, exp.Select) else None
    named = False
    if outer is not None and not outer.args.get("order"):
        outer.set("expressions", [
            exp.alias_(e.copy(), f"out{i}") if not isinstance(e, exp.Alias | exp.Star)
            else e.copy()
            for i, e in enumerate(outer.expressions)
        ])  # fmt: skip
        named = True
    return tree if renamed or named else None


def neq_forms(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``a != b`` spelled ``NOT a = b``."""
    for node in list(tree.find_all(exp.NEQ)):
        node.replace(
            exp.Not(
                this=exp.EQ(this=node.this.copy(), expression=node.expression.copy())
            )
        )
        return tree
    return None


def not_in_forms(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``x NOT IN (...)`` spelled ``NOT (x IN (...))``."""
    for node in list(tree.find_all(exp.Not)):
        if isinstance(node.this, exp.In):
            node.set("this", exp.Paren(this=node.this.copy()))
            return tree
    return None


def redundant_parens(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """Parentheses around every WHERE condition and the projected columns."""
    where = tree.find(exp.Where)
    if where is None:
        return None
    for node in list(where.find_all(exp.Predicate)):
        if not isinstance(node.parent, exp.Paren):
            node.replace(exp.Paren(this=node.copy()))
    where.set("this", exp.Paren(this=where.this.copy()))
    return tree


def comparison_flip(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``a > 3`` written ``3 < a``."""
    flips = {exp.GT: exp.LT, exp.LT: exp.GT, exp.GTE: exp.LTE, exp.LTE: exp.GTE}
    for node in list(tree.find_all(*flips)):
        node.replace(
            flips[type(node)](this=node.expression.copy(), expression=node.this.copy())
        )
        return tree
    return None


def in_list(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``x = a OR x = b`` written ``x IN (a, b)``."""
    for node in list(tree.find_all(exp.Or)):
        left, right = node.this.unnest(), node.expression.unnest()
        if (
            isinstance(left, exp.EQ)
            and isinstance(right, exp.EQ)
            and left.this == right.this
            and isinstance(left.this, exp.Column)
        ):
            node.replace(
                exp.In(
                    this=left.this.copy(),
                    expressions=[left.expression.copy(), right.expression.copy()],
                )
            )
            return tree
    return None


def combined(tree: exp.Expr, info: dict[str, Any]) -> exp.Expr | None:
    """Join order, AND/OR order, flipped comparisons and aliases at once."""
    steps = (join_order, and_or_order, comparison_flip, aliases)
    applied = 0
    for step in steps:
        changed = step(tree, info)
        if changed is not None:
            tree, applied = changed, applied + 1
    return tree if applied >= 2 else None


# --- near-misses ------------------------------------------------------------------


def except_swap(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """EXCEPT operands swapped: a different difference."""
    if not isinstance(tree, exp.Except):
        return None
    left, right = tree.this.copy(), tree.expression.copy()
    tree.set("this", right)
    tree.set("expression", left)
    return tree


def and_to_or(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """The first AND of a WHERE as OR."""
    where = tree.find(exp.Where)
    node = where.find(exp.And) if where else None
    if node is None:
        return None
    node.replace(exp.Or(this=node.this.copy(), expression=node.expression.copy()))
    return tree


def strict_bound(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``>`` as ``>=`` (or ``<`` as ``<=``)."""
    swap = {exp.GT: exp.GTE, exp.LT: exp.LTE, exp.GTE: exp.GT, exp.LTE: exp.LT}
    for node in list(tree.find_all(*swap)):
        node.replace(
            swap[type(node)](this=node.this.copy(), expression=node.expression.copy())
        )
        return tree
    return None


def value_case(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """A double-quoted value with other capitals (SQLite ``=`` is case-sensitive)."""
    for column in tree.find_all(exp.Column):
        ident = column.this
        if isinstance(ident, exp.Identifier) and ident.quoted and not column.table:
            text = ident.name
            changed = text.swapcase()
            if changed != text:
                ident.set("this", changed)
                return tree
    return None


def top_level_max(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``SELECT max(c) ...`` as ``SELECT c ... ORDER BY c DESC LIMIT 1`` or back."""
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    order, limit = tree.args.get("order"), tree.args.get("limit")
    only = tree.expressions[0]
    if isinstance(only, exp.Max) and not order and not tree.args.get("group"):
        tree.set("expressions", [only.this.copy()])
        tree.set("order", exp.Order(expressions=[
            exp.Ordered(this=only.this.copy(), desc=True, nulls_first=False)
        ]))  # fmt: skip
        tree.set("limit", exp.Limit(expression=exp.Literal.number(1)))
        return tree
    if not order or not limit or len(order.expressions) != 1:
        return None
    (ordered,) = order.expressions
    if not ordered.args.get("desc") or tree.args.get("group"):
        return None
    key = ordered.this
    if not isinstance(key, exp.Column) or tree.expressions[0] != key:
        return None
    tree.set("expressions", [exp.Max(this=key.copy())])
    tree.set("order", None)
    tree.set("limit", None)
    return tree


def tie_order_limit(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``ORDER BY c DESC LIMIT 1`` as ``WHERE c = (SELECT max(c) ...)``: ties differ."""
    if not isinstance(tree, exp.Select) or tree.args.get("joins"):
        return None
    order, limit = tree.args.get("order"), tree.args.get("limit")
    if not order or not limit or len(order.expressions) != 1 or tree.args.get("group"):
        return None
    (ordered,) = order.expressions
    key = ordered.this
    if not isinstance(key, exp.Column) or key.table:
        return None
    table = tree.args["from_"].this
    if not isinstance(table, exp.Table):
        return None
    agg = exp.Max if ordered.args.get("desc") else exp.Min
    where = tree.args.get("where")
    extreme = exp.select(agg(this=exp.column(key.name))).from_(table.name)
    cond = exp.EQ(this=exp.column(key.name), expression=extreme.subquery())
    tree.set(
        "where", exp.Where(this=exp.and_(where.this.copy(), cond) if where else cond)
    )
    tree.set("order", None)
    tree.set("limit", None)
    return tree


def not_in_to_in(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """``NOT IN`` as ``IN``."""
    for node in list(tree.find_all(exp.Not)):
        if isinstance(node.this, exp.In):
            node.replace(node.this.copy())
            return tree
    return None


def order_direction(tree: exp.Expr, _: dict[str, Any]) -> exp.Expr | None:
    """ORDER BY direction reversed."""
    order = tree.args.get("order")
    if not order:
        return None
    ordered = order.expressions[0]
    ordered.set("desc", not ordered.args.get("desc"))
    ordered.set("nulls_first", None)
    return tree


EQUIVALENT: dict[str, tuple[Rewrite, str]] = {
    "join_order": (join_order, ""),
    "max_order_limit": (max_order_limit, ""),
    "set_operand_swap": (set_operand_swap, ""),
    "and_or_order": (and_or_order, ""),
    "aliases": (aliases, ""),
    "neq_forms": (neq_forms, ""),
    "not_in_forms": (not_in_forms, ""),
    "redundant_parens": (redundant_parens, ""),
    "comparison_flip": (comparison_flip, ""),
    "in_list": (in_list, ""),
    "combined": (combined, ""),
    "redundant_join": (
        redundant_join,
        "every foreign-key value has its referenced row (SQLite does not enforce it)",
    ),
}
NEAR_MISS: dict[str, tuple[Rewrite, str]] = {
    "except_swap": (except_swap, "A EXCEPT B keeps rows of A, B EXCEPT A of B"),
    "and_to_or": (and_to_or, "OR admits rows that meet one condition only"),
    "strict_bound": (strict_bound, "differ on rows equal to the bound"),
    "value_case": (value_case, "SQLite compares strings case-sensitively"),
    "top_level_max": (
        top_level_max,
        "on no input MAX gives one NULL row, ORDER BY ... LIMIT 1 none",
    ),
    "tie_order_limit": (
        tie_order_limit,
        "LIMIT 1 keeps one of the rows tied at the extreme, the subquery all",
    ),
    "not_in_to_in": (not_in_to_in, "the complement of the rows"),
    "order_direction": (order_direction, "rows in the other order"),
}


# --- building ---------------------------------------------------------------------


def _foreign_keys(tables_path: Path) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for entry in json.loads(tables_path.read_text(encoding="utf-8")):
        names, cols = entry["table_names_original"], entry["column_names_original"]

        def col(
            i: int, names: list[str] = names, cols: list[Any] = cols
        ) -> tuple[str, str]:
            return names[cols[i][0]], cols[i][1]

        out[entry["db_id"]] = [(col(a), col(b)) for a, b in entry["foreign_keys"]]
    return out


def _run(conn: sqlite3.Connection, sql: str) -> list[tuple[Any, ...]] | None:
    try:
        return conn.execute(spider_prepare(sql, prediction=False)).fetchall()
    except sqlite3.Error:
        return None


def build() -> list[dict[str, Any]]:
    """Every kept pair, category by category, in dev order."""
    gold = read_gold(DATA / "spider" / "dev_gold.sql")
    fks = _foreign_keys(DATA / "spider" / "tables.json")
    root = DATA / "spider" / "database"
    conns: dict[str, sqlite3.Connection] = {}
    pairs: list[dict[str, Any]] = []
    plans = [(c, f, cond, True) for c, (f, cond) in EQUIVALENT.items()]
    plans += [(c, f, note, False) for c, (f, note) in NEAR_MISS.items()]
    for category, rewrite, text, equivalent in plans:
        kept = 0
        for index, line in enumerate(gold):
            if kept >= PER_CATEGORY:
                break
            path = database_path(root, line.db_id)
            if not path.is_file():
                continue
            try:
                tree = sqlglot.parse_one(line.query, read="sqlite")
                changed = rewrite(tree, {"fks": fks[line.db_id]})
            except (SqlglotError, KeyError, ValueError):
                continue
            if changed is None:
                continue
            right = _sql(changed)
            if line.db_id not in conns:
                conns[line.db_id] = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            conn = conns[line.db_id]
            left_rows, right_rows = _run(conn, line.query), _run(conn, right)
            if left_rows is None or right_rows is None:
                continue
            ordered = "order by" in line.query.lower()
            same = results_equal(
                left_rows, right_rows, mode="spider", order_matters=ordered
            )
            if equivalent and not same:
                continue
            pair: dict[str, Any] = {
                "id": f"{category}-{index}",
                "category": category,
                "equivalent": equivalent,
                "db_id": line.db_id,
                "dev_index": index,
                "left": line.query,
                "right": right,
            }
            if equivalent and text:
                pair["condition"] = text
            if not equivalent:
                pair["differs_on_dev_db"] = not same
                pair["note"] = text
            pairs.append(pair)
            kept += 1
    for conn in conns.values():
        conn.close()
    return pairs


def main() -> None:
    """Write the corpus and print how many pairs each category holds."""
    pairs = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as out:
        for pair in pairs:
            out.write(json.dumps(pair, ensure_ascii=False) + "\n")
    counts = Counter((p["equivalent"], p["category"]) for p in pairs)
    differ = Counter(p["category"] for p in pairs if p.get("differs_on_dev_db"))
    for (equivalent, category), n in sorted(counts.items(), reverse=True):
        kind = "equivalent" if equivalent else "near-miss "
        shown = "" if equivalent else f" (differ on the dev db: {differ[category]})"
        print(f"{kind}  {category:18} {n}{shown}")
    print(f"{len(pairs)} pairs written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
