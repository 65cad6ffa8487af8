"""The parts of a SQL query an error taxonomy compares (Django-free).

A query's tree is read once into `QueryFeatures`: tables (outer and nested),
join conditions, the select list, filters as atomic predicates, GROUP BY and
HAVING, ORDER BY and LIMIT, DISTINCT, set operations and subqueries. Table
aliases (Spider's ``T1``, ``T2``) are resolved to table names, so two queries
that alias differently compare equal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

__all__ = ["Predicate", "Projection", "QueryFeatures", "read_features"]

Schema = Mapping[str, Mapping[str, str]]
SUBQUERY = "(subquery)"
_AGGREGATES = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.GroupConcat)
_COMPARISONS: tuple[type[exp.Expr], ...] = (exp.EQ, exp.NEQ, exp.GT, exp.GTE)
_COMPARISONS += (exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Is, exp.NullSafeEQ, exp.Glob)
_OPERATORS = {"EQ": "=", "NEQ": "<>", "GT": ">", "GTE": ">=", "LT": "<", "LTE": "<="}


@dataclass(frozen=True, slots=True)
class Predicate:
    """One atomic condition: `column op value`, with the value's literal text."""

    lhs: str
    op: str
    rhs: str
    literals: tuple[str, ...] = ()
    is_string: bool = False

    def describe(self) -> str:
        return f"{self.lhs} {self.op} {self.rhs}"


@dataclass(frozen=True, slots=True)
class Projection:
    """One select-list item: aggregate (or ""), the expression inside, DISTINCT."""

    aggregate: str
    inner: str
    qualified: str
    distinct: bool


@dataclass
class QueryFeatures:
    outer_tables: Counter[str] = field(default_factory=Counter)
    nested_tables: Counter[str] = field(default_factory=Counter)
    joins: Counter[str] = field(default_factory=Counter)
    join_kinds: Counter[str] = field(default_factory=Counter)
    projections: list[list[Projection]] = field(default_factory=list)
    predicates: list[Predicate] = field(default_factory=list)
    nested_predicates: list[Predicate] = field(default_factory=list)
    nested_projections: list[list[Projection]] = field(default_factory=list)
    nested_order: list[tuple[tuple[tuple[str, bool], ...], str | None]] = field(
        default_factory=list
    )
    connectors: Counter[str] = field(default_factory=Counter)
    nested_connectors: Counter[str] = field(default_factory=Counter)
    distinct_aggregates: int = 0
    group_by: Counter[str] = field(default_factory=Counter)
    having: list[Predicate] = field(default_factory=list)
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    limit: str | None = None
    offset: str | None = None
    distinct_selects: int = 0
    set_operations: tuple[str, ...] = ()
    subqueries: Counter[str] = field(default_factory=Counter)
    functions: set[str] = field(default_factory=set)


class _Resolver:
    """Maps each column to ``table.column`` through its scope's aliases."""

    def __init__(self, root: exp.Expr, schema: Schema | None) -> None:
        self.schema = {
            t.lower(): {c.lower() for c in cols} for t, cols in (schema or {}).items()
        }
        self.by_select: dict[int, Scope] = {}
        for scope in traverse_scope(root):
            if isinstance(scope.expression, exp.Select):
                self.by_select[id(scope.expression)] = scope

    @staticmethod
    def _tables(scope: Scope) -> dict[str, str]:
        return {
            alias.lower(): source.name.lower()
            for alias, source in scope.sources.items()
            if isinstance(source, exp.Table)
        }

    def column(self, column: exp.Column) -> str:
        name = column.name.lower()
        select = column.find_ancestor(exp.Select)
        scope = self.by_select.get(id(select)) if select is not None else None
        qualifier = column.table.lower()
        while scope is not None:
            tables = self._tables(scope)
            if qualifier and qualifier in tables:
                return f"{tables[qualifier]}.{name}"
            if not qualifier:
                owners = [t for t in tables.values() if name in self.schema.get(t, ())]
                if len(owners) == 1 or (len(set(tables.values())) == 1 and tables):
                    return f"{(owners or list(tables.values()))[0]}.{name}"
                if not owners and len(scope.sources) > 0:
                    return name
            scope = scope.parent
        return name


def _unwrap(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def key(node: exp.Expr, resolver: _Resolver, *, bare: bool = False) -> str:
    """Canonical text of an expression with columns resolved (or bare names)."""
    if isinstance(_unwrap(node), exp.Subquery | exp.Select):
        return SUBQUERY
    originals = list(node.find_all(exp.Column))
    names = [col.name.lower() if bare else resolver.column(col) for col in originals]
    copy = exp.Paren(this=node.copy())
    for name, col in zip(names, list(copy.find_all(exp.Column)), strict=True):
        table, _, column = name.rpartition(".")
        col.replace(exp.column(column, table=table or None))
    return copy.this.sql(dialect="sqlite", normalize=True)


def _literals(node: exp.Expr) -> tuple[tuple[str, ...], bool]:
    found = [lit for lit in node.find_all(exp.Literal)]
    return tuple(lit.this for lit in found), any(lit.is_string for lit in found)


def _atoms(cond: exp.Expr, connectors: Counter[str]) -> list[exp.Expr]:
    cond = _unwrap(cond)
    if isinstance(cond, exp.And | exp.Or):
        connectors["AND" if isinstance(cond, exp.And) else "OR"] += 1
        return _atoms(cond.left, connectors) + _atoms(cond.right, connectors)
    return [cond]


def _predicate(atom: exp.Expr, resolver: _Resolver) -> Predicate:
    negated = isinstance(atom, exp.Not)
    inner = _unwrap(atom.this) if negated else atom
    prefix = "NOT " if negated else ""
    if isinstance(inner, exp.In):
        values = inner.args.get("query") or inner.expressions
        if isinstance(values, list):
            rhs = "(" + ", ".join(sorted(key(v, resolver) for v in values)) + ")"
            lits = tuple(sorted(lit for v in values for lit in _literals(v)[0]))
            is_string = any(_literals(v)[1] for v in values)
        else:
            rhs, lits, is_string = SUBQUERY, (), False
        return Predicate(
            key(inner.this, resolver, bare=True), f"{prefix}IN", rhs, lits, is_string
        )
    if isinstance(inner, exp.Between):
        low, high = inner.args["low"], inner.args["high"]
        lits, is_string = _literals(exp.Tuple(expressions=[low.copy(), high.copy()]))
        rhs = f"{key(low, resolver)} AND {key(high, resolver)}"
        lhs = key(inner.this, resolver, bare=True)
        return Predicate(lhs, f"{prefix}BETWEEN", rhs, lits, is_string)
    if isinstance(inner, _COMPARISONS):
        op = _OPERATORS.get(type(inner).__name__, type(inner).__name__.upper())
        rhs = key(inner.expression, resolver)
        lits, is_string = (
            _literals(inner.expression) if rhs != SUBQUERY else ((), False)
        )
        lhs = key(inner.this, resolver, bare=True)
        return Predicate(lhs, f"{prefix}{op}", rhs, lits, is_string)
    if isinstance(inner, exp.Exists):
        return Predicate("", f"{prefix}EXISTS", SUBQUERY)
    return Predicate(key(inner, resolver, bare=True), prefix.strip() or "TRUE", "")


def _is_join_condition(atom: exp.Expr, resolver: _Resolver) -> bool:
    """An equality of columns of two different tables (or aliases)."""
    left, right = _unwrap(atom.this), _unwrap(atom.expression)
    if not (
        isinstance(atom, exp.EQ)
        and isinstance(left, exp.Column)
        and isinstance(right, exp.Column)
    ):
        return False
    tables = {resolver.column(col).rpartition(".")[0] for col in (left, right)}
    aliases = {left.table.lower(), right.table.lower()}
    return len(tables) == 2 or (len(aliases) == 2 and "" not in aliases)


def _join_key(atom: exp.Expr, resolver: _Resolver) -> str:
    columns = [_unwrap(side) for side in (atom.this, atom.expression)]
    return " = ".join(
        sorted(resolver.column(c) for c in columns if isinstance(c, exp.Column))
    )


def _projection(item: exp.Expr, resolver: _Resolver) -> Projection:
    node = _unwrap(item.this if isinstance(item, exp.Alias) else item)
    if isinstance(node, _AGGREGATES):
        inner = node.this
        distinct = isinstance(inner, exp.Distinct)
        if distinct:
            inner = inner.expressions[0] if inner.expressions else exp.Star()
        aggregate = type(node).__name__.upper()
        if isinstance(inner, exp.Star) or inner is None:
            return Projection(aggregate, "*", "*", distinct)
        return Projection(
            aggregate,
            key(inner, resolver, bare=True),
            key(inner, resolver),
            distinct,
        )
    return Projection("", key(node, resolver, bare=True), key(node, resolver), False)


def _branches(root: exp.Expr) -> list[exp.Select]:
    node = _unwrap(root)
    if isinstance(node, exp.Subquery):
        return _branches(node.this)
    if isinstance(node, exp.SetOperation):
        return _branches(node.left) + _branches(node.right)
    return [node] if isinstance(node, exp.Select) else []


def _set_operations(root: exp.Expr) -> tuple[str, ...]:
    kinds = []
    for node in root.find_all(exp.SetOperation):
        kind = type(node).__name__.upper()
        if isinstance(node, exp.Union) and not node.args.get("distinct", True):
            kind += " ALL"
        kinds.append(kind)
    return tuple(kinds)


def _order_key(ordered: exp.Ordered, select: exp.Expr, resolver: _Resolver) -> str:
    node = ordered.this
    aliases = {}
    if isinstance(select, exp.Select):
        aliases = {
            e.alias.lower(): e.this
            for e in select.expressions
            if isinstance(e, exp.Alias)
        }
    if isinstance(node, exp.Column) and not node.table and node.name.lower() in aliases:
        node = aliases[node.name.lower()]
    return key(node, resolver, bare=True)


def _subquery_context(select: exp.Select) -> str:
    parent = select.parent
    while parent is not None and not isinstance(parent, exp.Select):
        if isinstance(parent, exp.From | exp.Join):
            return "FROM"
        if isinstance(parent, exp.Where):
            return "WHERE"
        if isinstance(parent, exp.Having):
            return "HAVING"
        parent = parent.parent
    return "SELECT"


def read_features(root: exp.Expr, *, schema: Schema | None = None) -> QueryFeatures:
    """Everything `error_taxonomy` compares, read from one parsed statement."""
    resolver = _Resolver(root, schema)
    features = QueryFeatures(set_operations=_set_operations(root))
    outer = _branches(root)
    outer_ids = {id(s) for s in outer}
    for select in root.find_all(exp.Select):
        nested = id(select) not in outer_ids
        if nested:
            features.subqueries[_subquery_context(select)] += 1
        tables = features.nested_tables if nested else features.outer_tables
        from_ = select.args.get("from_") or select.args.get("from")
        sources = [from_.this] if from_ is not None else []
        for join in select.args.get("joins") or []:
            sources.append(join.this)
            side_kind = " ".join(
                filter(None, (join.side, join.kind if join.kind != "INNER" else ""))
            )
            features.join_kinds[side_kind or "INNER"] += 1
            on = join.args.get("on")
            for atom in _atoms(on, Counter()) if on is not None else []:
                if _is_join_condition(atom, resolver):
                    features.joins[_join_key(atom, resolver)] += 1
        for source in sources:
            if isinstance(source, exp.Table):
                tables[source.name.lower()] += 1
        if select.args.get("distinct") is not None:
            features.distinct_selects += 1
        where = select.args.get("where")
        predicates = features.nested_predicates if nested else features.predicates
        connectors = features.nested_connectors if nested else features.connectors
        for atom in _atoms(where.this, connectors) if where else []:
            if _is_join_condition(atom, resolver):
                features.joins[_join_key(atom, resolver)] += 1
            else:
                predicates.append(_predicate(atom, resolver))
        group = select.args.get("group")
        for item in group.expressions if group else []:
            features.group_by[key(item, resolver, bare=True)] += 1
        having = select.args.get("having")
        for atom in _atoms(having.this, Counter()) if having else []:
            features.having.append(_predicate(atom, resolver))
        projections = [_projection(item, resolver) for item in select.expressions]
        if nested:
            features.nested_projections.append(projections)
            order = select.args.get("order")
            limit = select.args.get("limit")
            features.nested_order.append(
                (
                    tuple(
                        (_order_key(o, select, resolver), bool(o.args.get("desc")))
                        for o in (order.expressions if order else [])
                    ),
                    limit.expression.sql() if limit is not None else None,
                )
            )
        else:
            features.projections.append(projections)
    top = _unwrap(root)
    order = top.args.get("order")
    select_for_aliases = outer[0] if outer else top
    for ordered in order.expressions if order else []:
        features.order_by.append(
            (
                _order_key(ordered, select_for_aliases, resolver),
                bool(ordered.args.get("desc")),
            )
        )
    limit, offset = top.args.get("limit"), top.args.get("offset")
    features.limit = limit.expression.sql() if limit is not None else None
    features.offset = offset.expression.sql() if offset is not None else None
    features.distinct_aggregates = sum(
        isinstance(node.this, exp.Distinct) for node in root.find_all(*_AGGREGATES)
    )
    features.functions = {
        (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).upper()
        for f in root.find_all(exp.Func)
    }
    return features
