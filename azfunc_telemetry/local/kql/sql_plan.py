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
from typing import Any

from . import syntax as ast
from . import tabular
from .arg_extremes import ARG_EXTREMES, arg_outputs
from .errors import KqlError
from .expressions import ExpressionEvaluator, infer_name, unique_name
from .joins import join_tables
from .pruning import required_columns
from .result import Table
from .sql_hints import superset_condition
from .sql_rows import SqlPlan
from .sql_scalars import SORTABLE, SqlColumn, SqlScalar, translate, translate_aggregate

__all__ = ["plan_query"]

_ORDER = "__ord"
# Orders joined rows by (left rowid, right position) as one number; rowids stay below 2**31.
_RIGHT_SPAN = 2**32
_KEYS = frozenset(("string", "long", "int", "bool"))


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


class _Planner:
    """Plans one pipeline over one store table (aliased ``t``), maybe joined to another (``r``)."""

    def __init__(
        self, table: str, types: dict[str, str], operators: Sequence[ast.Operator],
        exprs: ExpressionEvaluator, store_types: Callable[[str], dict[str, str] | None],
        table_sql: Callable[[str], str] = _quote,
    ) -> None:  # fmt: skip
        self.table = table
        self.table_sql = table_sql
        self.types = dict(types)
        self.operators = operators
        self.exprs = exprs
        self.store_types = store_types
        self.columns = _base_columns(types, "t")
        self.shape = Table(list(types), [], dict(types))  # what the interpreter would see
        self.kinds = dict(types)
        self.prefix = ""
        self.source = f"FROM {table_sql(table)} AS t"
        self.conditions: list[str] = []
        self.predicates: list[ast.Expr] = []
        self.order = "t.rowid"
        self.computed = False  # whether extend/project added computed columns
        self.hinted = False  # whether a superset condition narrows rows a `where` still checks

    def constant(self, expr: ast.Expr) -> Any:
        self.exprs.check(expr, ())
        return self.exprs.evaluate(expr, {})

    def filters(self, index: int) -> int:
        """Translate the ``where`` and ``extend`` operators from ``index`` on; returns the
        first operator left."""
        operators = self.operators
        while index < len(operators):
            where = operators[index]
            if isinstance(where, ast.Extend):
                if not self.extend(where):
                    break
                index += 1
                continue
            if not isinstance(where, ast.Where):
                break
            self.shape = tabular.where(where, self.shape, self.exprs)  # the interpreter's checks
            condition = translate(where.predicate, self.columns, self.constant, predicate=True)
            if condition is None:
                # Not exact in SQL; a superset condition still narrows what is read, and the
                # interpreter applies the predicate itself.
                hint = superset_condition(where.predicate, self.columns, self.constant)
                if hint is not None:
                    self.conditions.append(hint)
                    self.hinted = True
                break
            self.conditions.append(condition.sql)
            self.predicates.append(where.predicate)
            index += 1
        return index

    def extend(self, op: ast.Extend) -> bool:
        """Add ``op``'s columns as SQL expressions; False (nothing changed) if one does not
        translate."""
        shape = tabular.extend(op, self.shape, self.exprs)  # the interpreter's checks
        columns, kinds = dict(self.columns), dict(self.kinds)
        names = list(self.shape.columns)
        for item in op.items:
            name = item.name or unique_name(infer_name(item.expr), names)
            if name not in names:
                names.append(name)
            computed = translate(item.expr, columns, self.constant, predicate=False)
            if computed is None:
                return False
            columns[name] = SqlColumn(computed.sql, computed.kind)
            kinds[name] = computed.kind
        self.columns, self.kinds, self.shape = columns, kinds, shape
        self.computed = True
        return True

    def from_clause(self) -> str:
        where = f" WHERE {' AND '.join(self.conditions)}" if self.conditions else ""
        return f"{self.source}{where}"

    def plan(self) -> SqlPlan:
        index = self.filters(0)
        operators = self.operators
        join = operators[index] if index < len(operators) else None
        if isinstance(join, ast.Join) and self.join(join):
            index = self.filters(index + 1)
        while index < len(operators):
            op = operators[index]
            if isinstance(op, ast.Summarize):
                grouped = self.summarize(op)
                if grouped is None:
                    break
                select, names, kinds = grouped
                return self.finish(select, names, kinds, index + 1)
            projected = self.plain_project(op) if isinstance(op, ast.Project) else None
            if not isinstance(op, ast.Project) or projected is None:
                break
            self.shape = tabular.project(op, self.shape, self.exprs)
            self.columns = {name: self.columns[source] for name, source in projected.items()}
            self.kinds = {name: self.kinds[source] for name, source in projected.items()}
            index = self.filters(index + 1)
        names = required_columns(operators[index:], list(self.shape.columns))
        first_rows = None if self.prefix else self.top_rowids(index)
        if first_rows is not None:
            self.conditions.append(first_rows)
        outputs = [f"{self.columns[name].sql} AS {_quote(name)}" for name in names]
        kinds = [self.kinds[name] for name in names]
        select = f"{self.prefix}SELECT {', '.join([*outputs, f'{self.order} AS {_ORDER}'])} "
        select += self.from_clause()
        return self.finish(select, names, kinds, index)

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
            if name is None or name not in self.columns or self.kinds[name] not in SORTABLE:
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
            if column == 't."timestamp"':
                # Every stored row has a timestamp, so a plain range keeps the index usable.
                everything = "''" if key.descending else "char(1114111)"
                return f"({column} {better} COALESCE({nth}, {everything}))"
            nulls = f" OR {column} IS NULL" if key.nulls_first else ""
            return f"({column} {better} {nth} OR {nth} IS NULL{nulls})"
        ordered = ", ".join([*terms, "t.rowid ASC"])
        return f"t.rowid IN (SELECT t.rowid {self.from_clause()} ORDER BY {ordered} LIMIT {limit})"

    def plain_project(self, op: ast.Project) -> dict[str, str] | None:
        """``project a, b = c, d = f(x)`` as output name -> column of :attr:`columns` (computed
        ones are added under hidden names), or None when an expression does not translate."""
        renames: dict[str, str] = {}
        for position, item in enumerate(op.items):
            if isinstance(item.expr, ast.ColumnRef) and item.expr.name in self.columns:
                source = item.expr.name
            else:
                computed = translate(item.expr, self.columns, self.constant, predicate=False)
                if computed is None:
                    return None
                source = f"\0project{position}"
                self.columns[source] = SqlColumn(computed.sql, computed.kind)
                self.kinds[source] = computed.kind
                self.computed = True
            name = item.name or infer_name(item.expr) or unique_name(None, list(renames))
            if name in renames:
                return None
            renames[name] = source
        return renames

    def join(self, op: ast.Join) -> bool:
        """Join a store table's filtered, projected rows as ``r``; False if that is not exact."""
        right = op.right
        if op.kind not in ("inner", "innerunique") or not isinstance(right.source, ast.TableRef):
            return False
        if self.computed:
            return False  # the first-row-per-key subquery reads stored columns only
        right_types = self.store_types(right.source.name)
        if not right_types:
            return False
        inner = _Planner(
            right.source.name,
            right_types,
            right.operators,
            self.exprs,
            self.store_types,
            self.table_sql,
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
        self.source = f"FROM {self.table_sql(self.table)} AS t JOIN r ON {on}"
        if op.kind == "innerunique":  # only the first left row of each key takes part
            first = _Planner(
                self.table, self.types, (), self.exprs, self.store_types, self.table_sql
            )
            first.columns = _base_columns(self.types, "u")
            conditions = [
                translate(predicate, first.columns, self.constant, predicate=True)
                for predicate in self.predicates
            ]
            where = " AND ".join(c.sql for c in conditions if c is not None)
            group = ", ".join(first.columns[c.left.name].sql for _l, _r, c in keys)
            self.conditions.append(
                f"t.rowid IN (SELECT MIN(u.rowid) FROM {self.table_sql(self.table)} AS u"
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
        extreme = op.aggregates[0].expr if len(op.aggregates) == 1 else None
        if isinstance(extreme, ast.Call) and extreme.name in ARG_EXTREMES:
            key_list = [key for key in keys if key is not None]
            return self.arg_extreme(extreme, shape, key_list)
        if op.aggregates and all(
            isinstance(item.expr, ast.Call) and item.expr.name in ("percentile", "percentiles")
            for item in op.aggregates
        ):
            return self.percentiles(op, shape, [key for key in keys if key is not None])
        aggregates = [
            translate_aggregate(item.expr, self.columns, self.constant) for item in op.aggregates
        ]
        if any(aggregate is None for aggregate in aggregates):
            return None
        key_list = [key for key in keys if key is not None]
        sql_items: list[SqlScalar] = [*key_list]
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

    def arg_extreme(
        self, call: ast.Call, shape: Table, keys: list[SqlScalar]
    ) -> tuple[str, list[str], list[str]] | None:
        """``summarize arg_max(x, ...) by keys`` as the first row of each group by ``x`` (rows
        where ``x`` is null never win; ties go to the earlier row, as in the interpreter)."""
        if not keys:
            return None  # without `by` an empty input still yields a row; the interpreter does it
        names = list(shape.columns)
        outputs = arg_outputs(call, self.shape.columns, names[: len(keys)])
        values = [
            translate(expr, self.columns, self.constant, predicate=False) for _n, expr in outputs
        ]
        if any(value is None for value in values) or len(names) != len(keys) + len(values):
            return None
        chosen = [value for value in values if value is not None]
        target = chosen[0]
        if target.kind not in SORTABLE or target.kind in ("bool", "bag-string"):
            return None
        direction = "DESC" if call.name == "arg_max" else "ASC"
        partition = f"PARTITION BY {', '.join(key.sql for key in keys)}"
        ranking = f"({target.sql} IS NULL) ASC, {target.sql} {direction}, {self.order} ASC"
        inner = [f"{key.sql} AS k{i}" for i, key in enumerate(keys)]
        inner += [f"{value.sql} AS v{i}" for i, value in enumerate(chosen)]
        inner += [
            f"({target.sql} IS NULL) AS none_won",
            f"ROW_NUMBER() OVER ({partition} ORDER BY {ranking}) AS rank_in_group",
            f"MIN({self.order}) OVER ({partition}) AS {_ORDER}",
        ]
        picked = [f"k{i} AS {_quote(name)}" for i, name in enumerate(names[: len(keys)])]
        picked += [
            f"CASE WHEN none_won THEN NULL ELSE v{i} END AS {_quote(name)}"
            for i, name in enumerate(names[len(keys) :])
        ]
        select = (
            f"{self.prefix}SELECT {', '.join([*picked, _ORDER])} FROM (SELECT {', '.join(inner)} "
            f"{self.from_clause()}) WHERE rank_in_group = 1"
        )
        self.shape = shape
        # A group whose x is always null yields nulls, strings included, so they stay raw.
        kinds = [key.kind for key in keys]
        kinds += ["bag-string" if value.kind == "string" else value.kind for value in chosen]
        return select, names, kinds

    def percentiles(
        self, op: ast.Summarize, shape: Table, keys: list[SqlScalar]
    ) -> tuple[str, list[str], list[str]] | None:
        """``summarize percentiles(x, p, ...) by keys`` (one ``x``) by ranking each group's
        non-null values: the nearest rank ``max(ceil(p / 100 * n), 1)``, computed in the same
        floating point as the interpreter's."""
        calls = [item.expr for item in op.aggregates if isinstance(item.expr, ast.Call)]
        if not keys or any(len(call.args) < 2 for call in calls):
            return None
        first = calls[0].args[0]
        if any(call.args[0] != first for call in calls):
            return None
        value = translate(first, self.columns, self.constant, predicate=False)
        if value is None or value.kind not in ("long", "int", "real", "datetime"):
            return None
        percents: list[float | int] = []
        for call in calls:
            for arg in call.args[1:]:
                percent = self.constant(arg)
                if not (isinstance(percent, (int, float)) and not isinstance(percent, bool)):
                    return None
                if not 0 <= percent <= 100:
                    return None
                percents.append(percent)
        names = list(shape.columns)
        if len(names) != len(keys) + len(percents):
            return None
        partition = f"PARTITION BY {', '.join(key.sql for key in keys)}"
        inner = [f"{key.sql} AS k{i}" for i, key in enumerate(keys)]
        inner += [
            f"{value.sql} AS v",
            f"ROW_NUMBER() OVER ({partition} ORDER BY ({value.sql} IS NULL), {value.sql}) AS rn",
            f"COUNT({value.sql}) OVER ({partition}) AS n",
            f"MIN({self.order}) OVER ({partition}) AS {_ORDER}",
        ]
        picked = [f"k{i} AS {_quote(name)}" for i, name in enumerate(names[: len(keys)])]
        for percent, name in zip(percents, names[len(keys) :], strict=True):
            share = f"({float(percent)!r} / 100.0 * n)"
            rank = f"MAX(1, CAST({share} AS INTEGER) + ({share} > CAST({share} AS INTEGER)))"
            picked.append(f"MAX(CASE WHEN rn = {rank} THEN v END) AS {_quote(name)}")
        group = ", ".join(f"k{i}" for i in range(len(keys)))
        select = (
            f"{self.prefix}SELECT {', '.join([*picked, f'MIN({_ORDER}) AS {_ORDER}'])}"
            f" FROM (SELECT {', '.join(inner)} {self.from_clause()}) GROUP BY {group}"
        )
        self.shape = shape
        return select, names, [key.kind for key in keys] + [value.kind] * len(percents)

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
                    isinstance(key.expr, ast.ColumnRef) and kind_of.get(key.expr.name) in SORTABLE
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
        types = {name: kind for name, kind in self.shape.types.items() if name in names}
        if not limit and order == f"{_ORDER} ASC":
            # Leave the order to Python: without ORDER BY, SQLite may serve a filter from an
            # index (a narrow time range) instead of scanning the table in row order.
            return SqlPlan(select, names, kinds, types, index, sort_by_order=True)
        sql = f"SELECT * FROM ({select}) ORDER BY {order}{limit}"
        return SqlPlan(sql, names, kinds, types, index)


def plan_query(
    table: str,
    types: dict[str, str],
    operators: Sequence[ast.Operator],
    exprs: ExpressionEvaluator,
    store_types: Callable[[str], dict[str, str] | None] = lambda _name: None,
    table_sql: Callable[[str], str] = _quote,
) -> SqlPlan:
    """Plan the SQL for the longest exact prefix of ``operators`` applied to ``table``.

    Args:
        table: The store table the pipeline starts from.
        types: Its column types.
        operators: The pipeline's operators.
        exprs: The query's expression evaluator (``let`` values, ``now``).
        store_types: Column types of another store table a ``join`` may read, or None when the
            name is not a store table (a ``let`` binding shadows it, say).
        table_sql: The SQL to read a table from (its quoted name, or a subquery supplying
            columns an older database lacks).

    Raises:
        KqlError: Exactly where the interpreter would, for the operators the plan covers.
    """
    return _Planner(table, types, operators, exprs, store_types, table_sql).plan()
