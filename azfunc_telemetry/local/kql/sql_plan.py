"""Pushing the leading part of a pipeline down into the store's SQLite database.

A pipeline that starts from a store table is split in two: the longest prefix SQLite can compute
exactly runs as one SQL statement, and the interpreter (the reference semantics) runs the rest on
its result. The prefix may hold, in this order:

1. ``where`` operators whose predicates translate (see :mod:`.sql_scalars`);
2. one ``summarize`` whose keys translate and whose aggregates are ``count``, ``countif``,
   ``sum``, ``avg``, ``min``, ``max`` or ``dcount`` of translatable arguments;
3. ``order by`` / ``top`` on plain columns, and ``take``.

When the prefix stops early, only the columns the rest of the pipeline mentions are selected
(:mod:`.pruning`), so unused JSON is never decoded. Each operator is first run by the interpreter
on an empty table of the same shape: that reports exactly the errors the interpreter would and
gives the output column names, so both paths agree on everything but speed.

Rows keep the interpreter's order: source rows by ``rowid``, groups by their first row, and ties
of a sort by their input position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import syntax as ast
from . import tabular
from .errors import KqlError
from .expressions import ExpressionEvaluator
from .joins import join_tables
from .pruning import required_columns
from .result import Table
from .sql_rows import SqlPlan
from .sql_scalars import SqlColumn, SqlScalar, translate

__all__ = ["plan_query"]

_ORDER = "__ord"
# Orders joined rows by (left rowid, right position) as one number; rowids stay below 2**31.
_RIGHT_SPAN = 2**32
_KEYS = frozenset(("string", "long", "int", "bool"))
_SORTABLE = frozenset(("string", "long", "int", "real", "datetime", "bool", "bag-string", "epoch"))
_NUMERIC = frozenset(("long", "int", "real"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _base_columns(types: dict[str, str], alias: str) -> dict[str, SqlColumn]:
    columns = {}
    for name, kind in types.items():
        quoted = f"{alias}.{_quote(name)}"
        if kind == "string":
            columns[name] = SqlColumn(f"COALESCE({quoted}, '')", kind, quoted)
        else:
            columns[name] = SqlColumn(quoted, kind, quoted)
    return columns


@dataclass(slots=True)
class _Aggregate:
    sql: str
    kind: str


def _aggregate(
    call: ast.Expr, columns: dict[str, SqlColumn], constant: Callable[[ast.Expr], Any]
) -> _Aggregate | None:
    if not isinstance(call, ast.Call):
        return None
    name, args = call.name, call.args
    if name == "count" and not args:
        return _Aggregate("COUNT(*)", "long")
    if not args:
        return None
    if name == "countif" and len(args) == 1:
        condition = translate(args[0], columns, constant, predicate=True)
        if condition is None:
            return None
        return _Aggregate(f"COALESCE(SUM(CASE WHEN {condition.sql} THEN 1 ELSE 0 END), 0)", "long")
    argument = translate(args[0], columns, constant, predicate=False)
    if argument is None or len(args) > (2 if name == "dcount" else 1):
        return None
    kind = argument.kind
    if name == "sum" and kind in _NUMERIC:
        return _Aggregate(f"COALESCE(SUM({argument.sql}), 0)", kind)
    if name == "avg" and kind in _NUMERIC:
        return _Aggregate(f"AVG({argument.sql})", "real")
    if name in ("min", "max") and kind in _SORTABLE - {"bool"}:
        return _Aggregate(f"{name.upper()}({argument.sql})", kind)
    if name == "dcount" and kind in _SORTABLE:
        return _Aggregate(f"COUNT(DISTINCT {argument.sql})", "long")
    return None


class _Planner:
    """Plans one pipeline over one store table (aliased ``t``), maybe joined to another (``r``)."""

    def __init__(
        self, table: str, types: dict[str, str], operators: Sequence[ast.Operator],
        exprs: ExpressionEvaluator, store_types: Callable[[str], dict[str, str] | None],
    ) -> None:  # fmt: skip
        self.table = table
        self.types = dict(types)
        self.operators = operators
        self.exprs = exprs
        self.store_types = store_types
        self.columns = _base_columns(types, "t")
        self.shape = Table(list(types), [], dict(types))  # what the interpreter would see
        self.kinds = dict(types)
        self.prefix = ""
        self.source = f"FROM {_quote(table)} AS t"
        self.conditions: list[str] = []
        self.predicates: list[ast.Expr] = []
        self.order = "t.rowid"

    def constant(self, expr: ast.Expr) -> Any:
        self.exprs.check(expr, ())
        return self.exprs.evaluate(expr, {})

    def filters(self, index: int) -> int:
        """Translate the ``where`` operators from ``index`` on; returns the first one left."""
        operators = self.operators
        while index < len(operators):
            where = operators[index]
            if not isinstance(where, ast.Where):
                break
            self.shape = tabular.where(where, self.shape, self.exprs)  # the interpreter's checks
            condition = translate(where.predicate, self.columns, self.constant, predicate=True)
            if condition is None:
                break
            self.conditions.append(condition.sql)
            self.predicates.append(where.predicate)
            index += 1
        return index

    def from_clause(self) -> str:
        where = f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
        return f"{self.source}{where}"

    def plan(self) -> SqlPlan:
        index = self.filters(0)
        operators = self.operators
        join = operators[index] if index < len(operators) else None
        if isinstance(join, ast.Join) and self.join(join):
            index = self.filters(index + 1)
        summarize = operators[index] if index < len(operators) else None
        if isinstance(summarize, ast.Summarize):
            grouped = self.summarize(summarize)
            if grouped is not None:
                select, names, kinds = grouped
                return self.finish(select, names, kinds, index + 1)
        project = operators[index] if index < len(operators) else None
        renames: dict[str, str] = {}
        if isinstance(project, ast.Project) and self.plain_project(project) is not None:
            renames = self.plain_project(project) or {}
            self.shape = tabular.project(project, self.shape, self.exprs)
            index += 1
        else:
            names = required_columns(operators[index:], list(self.shape.columns))
            renames = {name: name for name in names}
            first_rows = None if self.prefix else self.top_rowids(index)
            if first_rows is not None:
                self.conditions.append(first_rows)
        outputs = [
            f"{self.columns[source].sql} AS {_quote(name)}" for name, source in renames.items()
        ]
        kinds = [self.kinds[source] for source in renames.values()]
        select = f"{self.prefix}SELECT {', '.join([*outputs, f'{self.order} AS {_ORDER}'])} "
        select += self.from_clause()
        return self.finish(select, list(renames), kinds, index)

    def top_rowids(self, index: int) -> str | None:
        """For ``top N by col`` (or ``order by ... | take N``) on the table itself: a condition
        keeping only the N winning rows, so SQLite sorts row ids instead of whole rows."""
        operators = self.operators
        op = operators[index] if index < len(operators) else None
        after = operators[index + 1] if index + 1 < len(operators) else None
        keys: tuple[ast.SortKey, ...]
        if isinstance(op, ast.Top):
            keys, count = (op.key,), op.count
        elif isinstance(op, ast.Sort) and isinstance(after, ast.Take):
            keys, count = op.keys, after.count
        else:
            return None
        terms = []
        for key in keys:
            name = key.expr.name if isinstance(key.expr, ast.ColumnRef) else None
            if name is None or name not in self.columns or self.kinds[name] not in _SORTABLE:
                return None
            column = self.columns[name].sql
            nulls = "DESC" if key.nulls_first else "ASC"
            terms.append(
                f"({column} IS NULL) {nulls}, {column} {'DESC' if key.descending else 'ASC'}"
            )
        try:
            limit = self.constant(count)
        except KqlError:
            return None
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            return None
        key = keys[0]
        if len(keys) == 1 and key.nulls_first == (not key.descending):
            # SQLite places nulls as Kusto does by default here, so the index on the column
            # finds the N-th value at once; every row at least as good (ties included) stays.
            assert isinstance(key.expr, ast.ColumnRef)
            column = self.columns[key.expr.name].sql
            direction, better = ("DESC", ">=") if key.descending else ("ASC", "<=")
            nth = (
                f"(SELECT {column} {self.from_clause()} ORDER BY {column} {direction}"
                f" LIMIT 1 OFFSET {limit - 1})"
            )
            if key.expr.name == "timestamp" and self.kinds["timestamp"] == "datetime":
                # Every stored row has a timestamp, so a plain range keeps the index usable.
                everything = "''" if key.descending else "char(1114111)"
                return f"({column} {better} COALESCE({nth}, {everything}))"
            nulls = f" OR {column} IS NULL" if key.nulls_first else ""
            return f"({column} {better} {nth} OR {nth} IS NULL{nulls})"
        ordered = ", ".join([*terms, "t.rowid ASC"])
        return f"t.rowid IN (SELECT t.rowid {self.from_clause()} ORDER BY {ordered} LIMIT {limit})"

    def plain_project(self, op: ast.Project) -> dict[str, str] | None:
        """``project a, b = c`` over plain columns as output name -> source column, else None."""
        renames: dict[str, str] = {}
        for item in op.items:
            if not isinstance(item.expr, ast.ColumnRef) or item.expr.name not in self.columns:
                return None
            name = item.name or item.expr.name
            if name in renames:
                return None
            renames[name] = item.expr.name
        return renames

    def join(self, op: ast.Join) -> bool:
        """Join a store table's filtered, projected rows as ``r``; False if that is not exact."""
        right = op.right
        if op.kind not in ("inner", "innerunique") or not isinstance(right.source, ast.TableRef):
            return False
        right_types = self.store_types(right.source.name)
        if not right_types:
            return False
        inner = _Planner(
            right.source.name, right_types, right.operators, self.exprs, self.store_types
        )
        index = inner.filters(0)
        project = right.operators[index] if index < len(right.operators) else None
        renames = {name: name for name in right_types}
        if isinstance(project, ast.Project):
            renames = inner.plain_project(project) or {}
            if not renames:
                return False
            inner.shape = tabular.project(project, inner.shape, self.exprs)
            index += 1
        if index != len(right.operators):
            return False
        right_kinds = {name: inner.kinds[source] for name, source in renames.items()}
        right_shape = Table(list(renames), [], dict(inner.shape.types))
        joined = join_tables(op, self.shape, right_shape)  # the interpreter's checks and names
        keys = []
        for condition in op.conditions:
            left_kind = self.kinds.get(condition.left.name)
            if left_kind not in _KEYS or left_kind != right_kinds.get(condition.right.name):
                return False
            left_sql = self.columns[condition.left.name].sql
            keys.append((left_sql, f"r.{_quote(condition.right.name)}", condition))
        outputs = [
            f"{inner.columns[source].sql} AS {_quote(name)}" for name, source in renames.items()
        ]
        right_select = f"SELECT {', '.join([*outputs, f't.rowid AS {_ORDER}'])} "
        right_select += inner.from_clause()
        on = " AND ".join(f"{left} = {right_sql}" for left, right_sql, _c in keys)
        self.prefix = f"WITH r AS MATERIALIZED ({right_select}) "
        self.source = f"FROM {_quote(self.table)} AS t JOIN r ON {on}"
        if op.kind == "innerunique":  # only the first left row of each key takes part
            first = _Planner(self.table, self.types, (), self.exprs, self.store_types)
            first.columns = _base_columns(self.types, "u")
            conditions = [
                translate(predicate, first.columns, self.constant, predicate=True)
                for predicate in self.predicates
            ]
            where = " AND ".join(c.sql for c in conditions if c is not None)
            group = ", ".join(first.columns[c.left.name].sql for _l, _r, c in keys)
            self.conditions.append(
                f"t.rowid IN (SELECT MIN(u.rowid) FROM {_quote(self.table)} AS u"
                f"{' WHERE ' + where if where else ''} GROUP BY {group})"
            )
        left_names = set(self.shape.columns)
        columns = {name: self.columns[name] for name in self.shape.columns}
        kinds = {name: self.kinds[name] for name in self.shape.columns}
        right_names = [name for name in joined.columns if name not in left_names]
        for renamed, original in zip(right_names, renames, strict=True):
            columns[renamed] = SqlColumn(f"r.{_quote(original)}", right_kinds[original])
            kinds[renamed] = right_kinds[original]
        self.columns, self.kinds, self.shape = columns, kinds, joined
        self.order = f"(t.rowid * {_RIGHT_SPAN} + r.{_ORDER})"
        return True

    def summarize(self, op: ast.Summarize) -> tuple[str, list[str], list[str]] | None:
        shape = tabular.summarize(op, self.shape, self.exprs)  # checks, and the output names
        keys = [translate(key.expr, self.columns, self.constant, predicate=False) for key in op.by]
        if any(key is None for key in keys):
            return None
        aggregates = [_aggregate(item.expr, self.columns, self.constant) for item in op.aggregates]
        if any(aggregate is None for aggregate in aggregates):
            return None
        key_list = [key for key in keys if key is not None]
        sql_items: list[SqlScalar | _Aggregate] = [*key_list]
        sql_items += [aggregate for aggregate in aggregates if aggregate is not None]
        names = list(shape.columns)
        if len(names) != len(sql_items):
            return None
        outputs = [
            f"{item.sql} AS {_quote(name)}" for item, name in zip(sql_items, names, strict=True)
        ]
        group = f" GROUP BY {', '.join(key.sql for key in key_list)}" if key_list else ""
        select = f"{self.prefix}SELECT {', '.join([*outputs, f'MIN({self.order}) AS {_ORDER}'])} "
        select += self.from_clause() + group
        self.shape = shape
        return select, names, [item.kind for item in sql_items]

    def finish(self, select: str, names: list[str], kinds: list[str], index: int) -> SqlPlan:
        """Add the ordering stage (``order by``/``top``, then ``take``) that follows ``index``."""
        operators = self.operators
        kind_of = dict(zip(names, kinds, strict=True))
        order = f"{_ORDER} ASC"
        limit = ""
        op = operators[index] if index < len(operators) else None
        if isinstance(op, (ast.Sort, ast.Top)):
            keys = op.keys if isinstance(op, ast.Sort) else (op.key,)
            terms: list[str] = []
            for key in keys:
                if not (
                    isinstance(key.expr, ast.ColumnRef) and kind_of.get(key.expr.name) in _SORTABLE
                ):
                    terms = []
                    break
                column = _quote(key.expr.name)
                nulls = "DESC" if key.nulls_first else "ASC"
                terms.append(
                    f"({column} IS NULL) {nulls}, {column} {'DESC' if key.descending else 'ASC'}"
                )
            if terms:
                if isinstance(op, ast.Sort):
                    self.shape = tabular.sort(op, self.shape, self.exprs)
                else:
                    self.shape = tabular.top(op, self.shape, self.exprs)
                    limit = f" LIMIT {self.constant(op.count)}"
                order = ", ".join([*terms, order])
                index += 1
        take = operators[index] if index < len(operators) else None
        if not limit and isinstance(take, ast.Take):
            self.shape = tabular.take(take, self.shape, self.exprs)
            limit = f" LIMIT {self.constant(take.count)}"
            index += 1
        sql = f"SELECT * FROM ({select}) ORDER BY {order}{limit}"
        types = {name: kind for name, kind in self.shape.types.items() if name in names}
        return SqlPlan(sql, names, kinds, types, index)


def plan_query(
    table: str,
    types: dict[str, str],
    operators: Sequence[ast.Operator],
    exprs: ExpressionEvaluator,
    store_types: Callable[[str], dict[str, str] | None] = lambda _name: None,
) -> SqlPlan:
    """Plan the SQL for the longest exact prefix of ``operators`` applied to ``table``.

    Args:
        table: The store table the pipeline starts from.
        types: Its column types.
        operators: The pipeline's operators.
        exprs: The query's expression evaluator (``let`` values, ``now``).
        store_types: Column types of another store table a ``join`` may read, or None when the
            name is not a store table (a ``let`` binding shadows it, say).

    Raises:
        KqlError: Exactly where the interpreter would, for the operators the plan covers.
    """
    return _Planner(table, types, operators, exprs, store_types).plan()
