"""Canonical SQL trees for exact match: equivalent spellings made equal (Django-free).

Each rule rewrites a query into a form that returns the same rows on every
database, so two queries with one canonical text are equivalent; the converse
does not hold (EM can miss equivalent pairs, it must never equate different
ones). The input is a tree that ``qualify()`` has resolved: every column names
the alias of its source.

Rules, in order: output aliases that no outer query can see are dropped; table
aliases are renamed after their table, so that ``T1``/``T2`` follow the tables,
not the order they were written in; ``x IN (a, b)`` as ``x = a OR x = b``;
sqlglot's ``normalize`` and ``simplify`` (redundant parentheses,
``NOT (x IN ...)`` as ``x NOT IN ...``, double negations); a scalar operand
``(SELECT MAX(c) ...)`` as ``(SELECT c ... ORDER BY c DESC LIMIT 1)``; inner
joins as one table list with every join and WHERE condition in WHERE; then
commutative operands sorted (AND, OR, ``=``, ``<>``, the sides of ``<``/``>``,
GROUP BY keys, UNION and INTERSECT operands).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize import normalize
from sqlglot.optimizer.simplify import simplify

__all__ = [
    "FormulaNotSimplified",
    "canonicalize",
    "dialect_instance",
    "strip_output_aliases",
]

# sqlglot builds a new Dialect from a name on every call that takes one (tens of
# thousands per scoring run); an instance is stateless, so one per name serves.
_DIALECTS: dict[str | None, Dialect] = {}


def dialect_instance(name: str | None) -> Dialect:
    """The shared sqlglot Dialect of ``name`` (None: sqlglot's default dialect)."""
    dialect = _DIALECTS.get(name)
    if dialect is None:
        dialect = _DIALECTS[name] = Dialect.get_or_raise(name)
    return dialect


class FormulaNotSimplified(Exception):
    """sqlglot's formula rewrite failed part-way through a tree, in place.

    The tree is spoiled: canonicalize a fresh one with ``simplify_formulas=False``.
    Not a subclass of the errors that make EM give up on a query.
    """


# Dialects where NULL sorts below every value, so that ORDER BY c DESC puts NULLs
# last and its first row is MAX(c); PostgreSQL sorts them first.
_NULLS_SMALL = {"sqlite", "mysql"}
_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.LT: exp.GT,
    exp.GTE: exp.LTE,
    exp.LTE: exp.GTE,
}


def canonicalize(
    tree: exp.Expr, *, dialect: str = "sqlite", simplify_formulas: bool = True
) -> exp.Expr:
    """Rewrite a qualified tree in place into its canonical form and return it.

    Raises FormulaNotSimplified when sqlglot's normalize or simplify fails: a
    formula it cannot rewrite keeps its written shape, so the caller starts
    again from a fresh tree with ``simplify_formulas=False``. Rewriting a copy
    instead would cost a deep copy of every tree (a tenth of scoring) for a
    failure no Spider or EM-corpus query shows.
    """
    tree = strip_output_aliases(tree)
    _rename_table_aliases(tree, {})
    tree = _in_lists_as_or(tree)
    if simplify_formulas:
        try:
            tree = simplify(normalize(tree), dialect=dialect_instance(dialect))
        except (SqlglotError, RecursionError) as err:
            raise FormulaNotSimplified(str(err)) from err
    if dialect in _NULLS_SMALL:
        _scalar_max_as_order_limit(tree)
    for select in list(tree.find_all(exp.Select)):
        _inner_joins_as_where(select)
    return _sort_commutative(tree)


# --- output aliases -------------------------------------------------------------


def _names_visible(select: exp.Select) -> bool:
    # A select's output names matter only as the body of a derived table or CTE.
    node: exp.Expr | None = select.parent
    while isinstance(node, exp.SetOperation | exp.Subquery):
        if isinstance(node, exp.Subquery) and node.alias:
            return True
        node = node.parent
    return isinstance(node, exp.CTE)


def strip_output_aliases(tree: exp.Expr) -> exp.Expr:
    """Drop output column aliases that no query can refer to.

    Output names do not change a result's rows, and qualify() invents names
    (``_col_1``) that a prediction's own aliases never match. ORDER BY keys that
    name an alias get the aliased expression.
    """
    for select in list(tree.find_all(exp.Select)):
        if _names_visible(select):
            continue
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


# --- table aliases ----------------------------------------------------------------


def _sources(select: exp.Select) -> list[exp.Expr]:
    from_ = select.args.get("from_")
    found = [from_.this] if from_ is not None else []
    found += [join.this for join in select.args.get("joins") or []]
    return [s for s in found if isinstance(s, exp.Table | exp.Subquery)]


def _rename_table_aliases(node: exp.Expr, outer: dict[str, str]) -> None:
    """Name each source after its table; a name never shadows an outer one."""
    if isinstance(node, exp.Select):
        mapping = dict(outer)
        taken = set(outer.values())
        for source in _sources(node):
            old = source.alias_or_name
            base = source.name.lower() if isinstance(source, exp.Table) else "_sub"
            new, n = base, 1
            while new in taken:
                n += 1
                new = f"{base}_{n}"
            taken.add(new)
            mapping[old] = new
            source.set("alias", exp.TableAlias(this=exp.to_identifier(new, True)))
        outer = mapping
    for child in node.iter_expressions():
        if isinstance(child, exp.Column) and child.table in outer:
            child.set("table", exp.to_identifier(outer[child.table], quoted=True))
        _rename_table_aliases(child, outer)


# --- IN lists ---------------------------------------------------------------------


def _in_lists_as_or(tree: exp.Expr) -> exp.Expr:
    # SQL defines x IN (a, b) as x = a OR x = b, NULLs included.
    def rewrite(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.In)
            and node.expressions
            and not node.args.get("query")
            and not node.args.get("unnest")
            and not node.args.get("field")
        ):
            equalities = [
                exp.EQ(this=node.this.copy(), expression=e.copy())
                for e in node.expressions
            ]
            # Parenthesized: the disjunction may sit under NOT or AND.
            return exp.paren(exp.or_(*equalities), copy=False)
        return node

    return tree.transform(rewrite, copy=False)


# --- MAX as ORDER BY ... LIMIT 1 --------------------------------------------------


def _is_scalar_operand(subquery: exp.Subquery) -> bool:
    parent = subquery.parent
    return isinstance(parent, exp.Binary) and not isinstance(parent, exp.Connector)


def _scalar_max_as_order_limit(tree: exp.Expr) -> None:
    # A scalar subquery yields NULL on no rows either way, and DESC puts NULLs
    # last where NULL is the smallest value, so the first row holds MAX(c); ties
    # share the value. At the top level the forms differ on an empty input (one
    # NULL row versus none), and under IN the NULL matters: neither is rewritten.
    for subquery in list(tree.find_all(exp.Subquery)):
        select = subquery.this
        if not (_is_scalar_operand(subquery) and isinstance(select, exp.Select)):
            continue
        if len(select.expressions) != 1 or any(
            select.args.get(k)
            for k in ("group", "having", "order", "limit", "distinct")
        ):
            continue
        (only,) = select.expressions
        if not isinstance(only, exp.Max) or only.expressions:
            continue
        if isinstance(only.this, exp.Distinct):
            continue
        column = only.this
        select.set("expressions", [column.copy()])
        select.set(
            "order",
            exp.Order(
                expressions=[
                    exp.Ordered(this=column.copy(), desc=True, nulls_first=False)
                ]
            ),
        )
        select.set("limit", exp.Limit(expression=exp.Literal.number(1)))


# --- inner joins ------------------------------------------------------------------


def _conjuncts(condition: exp.Expr | None) -> list[exp.Expr]:
    if condition is None:
        return []
    return (
        [c.unnest() for c in condition.flatten()]
        if isinstance(condition, exp.And)
        else [condition.unnest()]
    )


def _is_star(projection: exp.Expr) -> bool:
    return isinstance(projection, exp.Star) or (
        isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
    )


def _inner_joins_as_where(select: exp.Select) -> None:
    """``a JOIN b ON c1 WHERE c2`` as ``a, b WHERE c1 AND c2``, tables sorted.

    Only for inner and cross joins with ON (or nothing): outer joins, USING and
    NATURAL keep their order. A star is expanded by qualify() when the schema is
    known; without it, a star keeps the join order (it sets the column order).
    """
    joins = select.args.get("joins") or []
    from_ = select.args.get("from_")
    if not joins or from_ is None:
        return
    for join in joins:
        if join.side or join.args.get("method") or join.args.get("using"):
            return
        if (join.kind or "INNER").upper() not in {"INNER", "CROSS"}:
            return
    if any(_is_star(e) for e in select.expressions):
        return
    conditions = [c for j in joins for c in _conjuncts(j.args.get("on"))]
    where = select.args.get("where")
    conditions += _conjuncts(where.this if where else None)
    tables = sorted(
        [from_.this, *(j.this for j in joins)],
        key=lambda t: t.sql(dialect=dialect_instance(None), normalize=True, copy=False),
    )
    select.set("from_", exp.From(this=_moved(tables[0])))
    select.set("joins", [exp.Join(this=_moved(t)) for t in tables[1:]])
    where_ = exp.and_(*map(_moved, conditions), copy=False) if conditions else None
    select.set("where", exp.Where(this=where_) if where_ is not None else None)


def _moved(node: exp.Expr) -> exp.Expr:
    """``node`` itself for its new parent, or a copy when it holds a query.

    The caller walks a list of the tree's SELECTs made before this rewrite: a
    SELECT under a copied node is left out of the canonical tree, one under a
    moved node would be rewritten too. Copying exactly those keeps every
    canonical text as it was (EM_VERSION), at the cost of copying only them.
    """
    return node.copy() if node.find(exp.Select) is not None else node


# --- commutative operands ------------------------------------------------------


class _Sorter:
    """Sorts commutative operands bottom-up, printing each operand once.

    Operands are moved, not copied, into the rebuilt nodes, so that the printed
    text of a finished subtree is computed once (the cache holds the node, so an
    id is never reused while the pass runs).
    """

    def __init__(self) -> None:
        self._keys: dict[int, tuple[exp.Expr, str]] = {}

    def key(self, node: exp.Expr) -> str:
        cached = self._keys.get(id(node))
        if cached is None:
            # Printing mutates only a parentless tree with nested CTEs; operands
            # always have a parent, so no copy is needed.
            text = node.sql(dialect=dialect_instance(None), normalize=True, copy=False)
            cached = self._keys[id(node)] = (node, text)
        return cached[1]

    def unique_sorted(self, nodes: Iterable[exp.Expr]) -> list[exp.Expr]:
        by_text = {self.key(n): n for n in nodes}
        return [by_text[k] for k in sorted(by_text)]

    def node(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.And | exp.Or):
            operands = self.unique_sorted(o.unnest() for o in node.flatten())
            combine = exp.and_ if isinstance(node, exp.And) else exp.or_
            return combine(*operands, copy=False) if len(operands) > 1 else operands[0]
        if isinstance(node, exp.EQ | exp.NEQ):
            left, right = sorted((node.this, node.expression), key=self.key)
            return type(node)(this=left, expression=right)
        if type(node) in _FLIPPED and self.key(node.this) > self.key(node.expression):
            return _FLIPPED[type(node)](this=node.expression, expression=node.this)
        if isinstance(node, exp.Group) and not _group_order_observable(node):
            node.set("expressions", self.unique_sorted(node.expressions))
        if isinstance(node, exp.Union | exp.Intersect) and not any(
            node.args.get(k) for k in ("order", "limit", "offset", "with_")
        ):
            operands = sorted(_set_operands(node), key=self.key)
            result = operands[0]
            for operand in operands[1:]:
                result = type(node)(
                    this=result, expression=operand, distinct=node.args.get("distinct")
                )
            return result
        return node


def _set_operands(node: exp.SetOperation) -> list[exp.Expr]:
    operands: list[exp.Expr] = []
    for side in (node.this, node.expression):
        inner = side.this if isinstance(side, exp.Subquery) and not side.alias else side
        if (
            type(inner) is type(node)
            and inner.args.get("distinct") == node.args.get("distinct")
            and not any(inner.args.get(k) for k in ("order", "limit", "offset"))
        ):
            operands += _set_operands(inner)
        else:
            operands.append(side)
    return operands


def _group_order_observable(group: exp.Group) -> bool:
    # SQLite emits groups sorted by their keys as written; under ORDER BY or
    # LIMIT that order decides which tied rows come first or survive.
    select = group.parent
    return bool(
        group.args.get("rollup")
        or not isinstance(select, exp.Select)
        or select.args.get("order")
        or select.args.get("limit")
    )


def _sort_commutative(tree: exp.Expr) -> exp.Expr:
    # Children first, so that a parent sorts operands already in canonical form.
    sorter = _Sorter()
    for node in reversed(list(tree.walk(bfs=False))):
        new = sorter.node(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree
