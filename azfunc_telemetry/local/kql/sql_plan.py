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

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import syntax as ast
from . import tabular
from .expressions import ExpressionEvaluator
from .pruning import required_columns
from .result import Table
from .sql_scalars import SqlColumn, SqlScalar, translate
from .values import UTC

__all__ = ["SqlPlan", "decode_rows", "plan_query"]

_ORDER = "__ord"
_SORTABLE = frozenset(("string", "long", "int", "real", "datetime", "bool", "bag-string"))
_NUMERIC = frozenset(("long", "int", "real"))


@dataclass(frozen=True, slots=True)
class SqlPlan:
    """One SQL statement standing in for the first ``consumed`` operators of a pipeline.

    Attributes:
        sql: The statement; its last selected column is the row order, not part of the result.
        columns: The result's column names.
        kinds: How to decode each column (a Kusto type, or ``bag-string`` for a bag property).
        types: The statically known types the interpreter would attach to the result.
        consumed: How many operators the statement computes.
    """

    sql: str
    columns: list[str]
    kinds: list[str]
    types: dict[str, str]
    consumed: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _base_columns(types: dict[str, str]) -> dict[str, SqlColumn]:
    columns = {}
    for name, kind in types.items():
        quoted = _quote(name)
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
    def __init__(
        self, table: str, types: dict[str, str], operators: Sequence[ast.Operator],
        exprs: ExpressionEvaluator,
    ) -> None:  # fmt: skip
        self.table = table
        self.types = types
        self.operators = operators
        self.exprs = exprs
        self.columns = _base_columns(types)
        self.shape = Table(list(types), [], dict(types))  # what the interpreter would see

    def constant(self, expr: ast.Expr) -> Any:
        self.exprs.check(expr, ())
        return self.exprs.evaluate(expr, {})

    def plan(self) -> SqlPlan:
        index, conditions = 0, []
        operators = self.operators
        while index < len(operators):
            where = operators[index]
            if not isinstance(where, ast.Where):
                break
            self.shape = tabular.where(where, self.shape, self.exprs)  # the interpreter's checks
            condition = translate(where.predicate, self.columns, self.constant, predicate=True)
            if condition is None:
                break
            conditions.append(condition.sql)
            index += 1
        where_sql = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        source = f"FROM {_quote(self.table)}{where_sql}"

        summarize = operators[index] if index < len(operators) else None
        if isinstance(summarize, ast.Summarize):
            grouped = self.summarize(summarize, source)
            if grouped is not None:
                select, names, kinds = grouped
                return self.finish(select, names, kinds, index + 1)

        names = required_columns(operators[index:], list(self.types))
        kinds = [self.types[name] for name in names]
        outputs = [f"{self.columns[name].sql} AS {_quote(name)}" for name in names]
        select = f"SELECT {', '.join([*outputs, f'rowid AS {_ORDER}'])} {source}"
        if index == len(operators) or not isinstance(
            operators[index], (ast.Sort, ast.Top, ast.Take)
        ):
            return SqlPlan(
                f"{select} ORDER BY rowid", names, kinds, {n: self.types[n] for n in names}, index
            )
        return self.finish(select, names, kinds, index)

    def summarize(self, op: ast.Summarize, source: str) -> tuple[str, list[str], list[str]] | None:
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
        select = f"SELECT {', '.join([*outputs, f'MIN(rowid) AS {_ORDER}'])} {source}{group}"
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
        return SqlPlan(sql, names, kinds, dict(self.shape.types), index)


def plan_query(
    table: str,
    types: dict[str, str],
    operators: Sequence[ast.Operator],
    exprs: ExpressionEvaluator,
) -> SqlPlan:
    """Plan the SQL for the longest exact prefix of ``operators`` applied to ``table``.

    Raises:
        KqlError: Exactly where the interpreter would, for the operators the plan covers.
    """
    return _Planner(table, types, operators, exprs).plan()


def _datetime(text: str) -> datetime:
    if len(text) == 27 and text.endswith("Z"):
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    from azfunc_telemetry.ingestion.protocol import parse_envelope_time

    return parse_envelope_time(text)


def _decoder(kind: str) -> Callable[[Any], Any] | None:
    if kind == "datetime":
        return lambda value: None if value is None else _datetime(value)
    if kind == "dynamic":
        return lambda value: None if value is None else json.loads(value)
    if kind == "bool":
        return lambda value: None if value is None else bool(value)
    if kind == "string":
        return lambda value: "" if value is None else value
    return None


def decode_rows(plan: SqlPlan, fetched: Sequence[Sequence[Any]]) -> Table:
    """Turn the statement's rows into the interpreter's table (dropping the order column)."""
    names = plan.columns
    decoders = [(index, _decoder(kind)) for index, kind in enumerate(plan.kinds)]
    active = [(index, decode) for index, decode in decoders if decode is not None]
    rows = []
    for record in fetched:
        values = list(record[: len(names)])
        for index, decode in active:
            values[index] = decode(values[index])
        rows.append(dict(zip(names, values, strict=True)))
    return Table(list(names), rows, dict(plan.types))
