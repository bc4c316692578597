"""Translation of the scalar expressions SQLite can evaluate exactly as the interpreter does.

Only forms whose SQL meaning is provably the same as Kusto's are translated; anything else makes
:func:`translate` return None and the query keeps that work in the interpreter. The rules that
make the translations exact:

* The store keeps ``timestamp`` as fixed-width ISO text (``2024-05-01T12:00:00.000000Z``), so
  comparing it with a datetime literal formatted the same way is comparing the instants, and
  the ``timestamp`` index serves the filter.
* Kusto's ``==`` is false against null and ``!=`` true; SQL's ``IS`` / ``IS NOT`` behave exactly
  so (and can still use an index), while ordering comparisons are null-propagating in both.
* Strings are never null in Kusto: a string column is read as ``COALESCE(col, '')``, except in
  an equality with a non-empty literal, where the raw column gives the same answer.
* ``customDimensions`` values are always strings (the store stringifies them), so
  ``json_extract`` returns exactly the value the interpreter finds in the decoded bag.
* Case-insensitive and substring operators are not translated: SQLite folds only ASCII case.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import syntax as ast
from .operations import kusto_type_name
from .values import UTC

__all__ = ["SORTABLE", "SqlColumn", "SqlScalar", "sql_literal", "translate", "translate_aggregate"]

_NUMERIC = frozenset(("int", "long", "real"))
SORTABLE = frozenset(("string", "long", "int", "real", "datetime", "bool", "bag-string", "epoch"))
_ORDERING = {"<": "<", "<=": "<=", ">": ">", ">=": ">="}
_DAY_SECONDS = 86400
# Dynamic columns whose property values the store always writes as JSON strings or numbers.
_FLAT_BAGS = {"customDimensions": "string", "customMeasurements": "real"}


@dataclass(frozen=True, slots=True)
class SqlColumn:
    """A column visible to translated expressions: its SQL text and Kusto type."""

    sql: str
    kind: str
    raw_sql: str | None = None  # the stored column itself, when ``sql`` wraps it in COALESCE


@dataclass(frozen=True, slots=True)
class SqlScalar:
    """A translated expression: SQL text and the Kusto type of its value."""

    sql: str
    kind: str


def sql_literal(value: Any) -> str | None:
    """``value`` as an SQL literal in the store's encoding, or None if it has none."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        # Zero-padded like the stored text even for years before 1000 (strftime is not).
        return f"'{moment.year:04d}-" + moment.strftime("%m-%dT%H:%M:%S.%fZ") + "'"
    return None


#: The Kusto types a SQL literal can stand for.
_LITERAL_KINDS = frozenset({"bool", "long", "real", "string", "datetime"})


def _kind_of_literal(value: Any) -> str | None:
    kind = kusto_type_name(value)
    return kind if kind in _LITERAL_KINDS else None


Constant = Callable[[ast.Expr], Any]
"""Evaluates an expression that does not depend on the row (``ago(1h)``), or raises."""


class _Translator:
    def __init__(self, columns: Mapping[str, SqlColumn], constant: Constant) -> None:
        self.columns = columns
        self.constant = constant

    def scalar(self, expr: ast.Expr) -> SqlScalar | None:
        if isinstance(expr, ast.ColumnRef):
            column = self.columns.get(expr.name)
            return None if column is None else SqlScalar(column.sql, column.kind)
        if isinstance(expr, (ast.Member, ast.Index)):
            return self.bag_property(expr)
        if isinstance(expr, ast.Call) and expr.name == "bin" and len(expr.args) == 2:
            return self.time_bin(expr)
        if isinstance(expr, ast.Call) and expr.name in ("iff", "iif", "case"):
            return self.conditional(expr)
        if isinstance(expr, ast.Call) and expr.name == "strlen" and len(expr.args) == 1:
            inner = self.scalar(expr.args[0])
            if inner is not None and inner.kind == "string":  # code points, like len()
                return SqlScalar(f"length({inner.sql})", "long")
            return None
        if isinstance(expr, ast.Call) and expr.name == "tostring" and len(expr.args) == 1:
            inner = self.scalar(expr.args[0])
            if inner is not None and inner.kind in ("string", "bag-string"):
                return SqlScalar(f"COALESCE({inner.sql}, '')", "string")
            return None
        if isinstance(expr, (ast.Binary, ast.InList, ast.Between)) or (
            isinstance(expr, ast.Call) and expr.name == "not"
        ):
            predicate = self.predicate(expr)
            return None if predicate is None else SqlScalar(predicate, "bool")
        value = self.constant_value(expr)
        if value is _NOT_CONSTANT:
            return None
        kind = _kind_of_literal(value)
        text = sql_literal(value)
        return None if kind is None or text is None else SqlScalar(text, kind)

    def conditional(self, call: ast.Call) -> SqlScalar | None:
        """``iff(p, a, b)`` / ``case(p1, v1, ..., else)`` as ``CASE WHEN``: a null condition
        takes no branch in both; every value must be of one kind."""
        args = call.args
        if len(args) < 3 or len(args) % 2 == 0:
            return None
        branches = []
        for index in range(0, len(args) - 1, 2):
            condition = self.predicate(args[index])
            value = self.scalar(args[index + 1])
            if condition is None or value is None:
                return None
            branches.append((condition, value))
        otherwise = self.scalar(args[-1])
        if otherwise is None or otherwise.kind in ("bool", "bag-string", "epoch", "dynamic"):
            return None
        if any(value.kind != otherwise.kind for _c, value in branches):
            return None
        whens = " ".join(f"WHEN {condition} THEN {value.sql}" for condition, value in branches)
        return SqlScalar(f"(CASE {whens} ELSE {otherwise.sql} END)", otherwise.kind)

    def constant_value(self, expr: ast.Expr) -> Any:
        if isinstance(expr, ast.Literal):
            return expr.value
        if isinstance(expr, ast.Call) and expr.name in ("ago", "now", "datetime", "todatetime"):
            try:
                return self.constant(expr)
            except Exception:  # the interpreter reports it, at the right place
                return _NOT_CONSTANT
        return _NOT_CONSTANT

    def bag_property(self, expr: ast.Member | ast.Index) -> SqlScalar | None:
        key = expr.key if isinstance(expr, ast.Member) else None
        if isinstance(expr, ast.Index) and isinstance(expr.index, ast.Literal):
            key = expr.index.value if isinstance(expr.index.value, str) else None
        base = expr.base
        if key is None or not isinstance(base, ast.ColumnRef) or base.name not in _FLAT_BAGS:
            return None
        column = self.columns.get(base.name)
        if column is None or column.kind != "dynamic":
            return None
        path = sql_literal('$."' + key.replace('"', '\\"') + '"')
        kind = "bag-string" if _FLAT_BAGS[base.name] == "string" else "dynamic"
        return SqlScalar(f"json_extract({column.sql}, {path})", kind)

    def time_bin(self, call: ast.Call) -> SqlScalar | None:
        target = call.args[0]
        if not isinstance(target, ast.ColumnRef):
            return None
        column = self.columns.get(target.name)
        size = self.constant_value(call.args[1])
        if column is None or column.kind != "datetime" or not isinstance(size, timedelta):
            return None
        seconds = size.total_seconds()
        # Unix time bins line up with Kusto's (counted from 0001-01-01) when they divide a day.
        if seconds < 1 or seconds != int(seconds) or _DAY_SECONDS % int(seconds):
            return None
        step = int(seconds)
        # Seconds since 1970 of the bin's start; grouping on a number is cheaper than on text.
        epoch = f"CAST(strftime('%s', substr({column.sql}, 1, 19)) AS INTEGER)"
        return SqlScalar(f"(({epoch} / {step}) * {step})", "epoch")

    # --- predicates -----------------------------------------------------------------------------

    def predicate(self, expr: ast.Expr) -> str | None:
        if isinstance(expr, ast.Binary) and expr.op in ("and", "or"):
            left, right = self.predicate(expr.left), self.predicate(expr.right)
            if left is None or right is None:
                return None
            return f"({left} {expr.op.upper()} {right})"
        if isinstance(expr, ast.Call) and expr.name == "not" and len(expr.args) == 1:
            inner = self.predicate(expr.args[0])
            return None if inner is None else f"(NOT {inner})"
        if isinstance(expr, ast.Binary) and expr.op in ("==", "!="):
            return self.equality(expr.left, expr.right, negated=expr.op == "!=")
        if isinstance(expr, ast.Binary) and expr.op in _ORDERING:
            return self.ordering(expr.op, expr.left, expr.right)
        if isinstance(expr, ast.Between):
            low = self.ordering(">=", expr.left, expr.low)
            high = self.ordering("<=", expr.left, expr.high)
            if low is None or high is None:
                return None
            return f"(NOT ({low} AND {high}))" if expr.negated else f"({low} AND {high})"
        if isinstance(expr, ast.InList) and not expr.case_insensitive:
            return self.in_list(expr)
        if isinstance(expr, ast.ColumnRef):
            column = self.columns.get(expr.name)
            if column is not None and column.kind == "bool":
                return f"({column.sql} = 1)"  # null stays null, also under not()
        return None

    def _operands(self, left: ast.Expr, right: ast.Expr) -> tuple[str, str, str] | None:
        """SQL of a column-ish side and a literal side of the same kind, plus that kind."""
        column, literal = self.scalar(left), self.constant_value(right)
        if column is None or literal is _NOT_CONSTANT or literal is None:
            return None
        kind = column.kind
        if kind == "bool" and isinstance(literal, str):  # success == "False"
            lowered = literal.strip().lower()
            literal = lowered == "true" if lowered in ("true", "false") else None
            if literal is None:
                return None
        literal_kind = _kind_of_literal(literal)
        same = literal_kind == kind or (literal_kind in _NUMERIC and kind in _NUMERIC)
        if kind == "bag-string" and literal_kind == "string":
            same = True
        text = sql_literal(literal)
        if not same or text is None:
            return None
        return column.sql, text, kind

    def equality(self, left: ast.Expr, right: ast.Expr, *, negated: bool) -> str | None:
        operands = self._operands(left, right) or self._operands(right, left)
        if operands is None:
            return None
        sql, text, _kind = operands
        raw = self._raw_column(left) or self._raw_column(right)
        if raw is not None and text != "''":
            sql = raw  # null and "" both differ from a non-empty literal
        return f"({sql} {'IS NOT' if negated else 'IS'} {text})"

    def _raw_column(self, expr: ast.Expr) -> str | None:
        if isinstance(expr, ast.ColumnRef) and expr.name in self.columns:
            return self.columns[expr.name].raw_sql
        return None

    def ordering(self, op: str, left: ast.Expr, right: ast.Expr) -> str | None:
        operands = self._operands(left, right)
        flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        if operands is None:
            operands = self._operands(right, left)
            op = flipped
        if operands is None:
            return None
        sql, text, kind = operands
        if kind not in _NUMERIC and kind not in ("datetime", "string"):
            return None
        # The raw column serves the index; strings keep COALESCE because "" < "a" but null is not.
        raw = None if kind == "string" else self._raw_column(left) or self._raw_column(right)
        return f"({raw or sql} {_ORDERING[op]} {text})"

    def in_list(self, expr: ast.InList) -> str | None:
        parts = []
        for item in expr.items:
            part = self.equality(expr.left, item, negated=False)
            if part is None:
                return None
            parts.append(part)
        joined = " OR ".join(parts)
        return f"(NOT ({joined}))" if expr.negated else f"({joined})"


_NOT_CONSTANT = object()


def translate(
    expr: ast.Expr, columns: Mapping[str, SqlColumn], constant: Constant, *, predicate: bool
) -> SqlScalar | None:
    """Translate ``expr`` over ``columns``, or None when SQLite cannot evaluate it exactly.

    Args:
        expr: A checked expression.
        columns: The visible columns and their SQL.
        constant: Evaluates row-independent sub-expressions such as ``ago(1h)``.
        predicate: Whether ``expr`` is a ``where`` condition (a bool whose null drops the row).
    """
    translator = _Translator(columns, constant)
    if predicate:
        text = translator.predicate(expr)
        return None if text is None else SqlScalar(text, "bool")
    return translator.scalar(expr)


def translate_aggregate(
    call: ast.Expr, columns: Mapping[str, SqlColumn], constant: Constant
) -> SqlScalar | None:
    """SQL for an aggregation SQLite computes exactly as the interpreter does, else None."""
    if not isinstance(call, ast.Call):
        return None
    name, args = call.name, call.args
    if name == "count" and not args:
        return SqlScalar("COUNT(*)", "long")
    if not args:
        return None
    if name == "countif" and len(args) == 1:
        condition = translate(args[0], columns, constant, predicate=True)
        if condition is None:
            return None
        return SqlScalar(f"COALESCE(SUM(CASE WHEN {condition.sql} THEN 1 ELSE 0 END), 0)", "long")
    argument = translate(args[0], columns, constant, predicate=False)
    if argument is None or len(args) > (2 if name == "dcount" else 1):
        return None
    kind = argument.kind
    if name == "sum" and kind in _NUMERIC:
        return SqlScalar(f"COALESCE(SUM({argument.sql}), 0)", kind)
    if name == "avg" and kind in _NUMERIC:
        return SqlScalar(f"AVG({argument.sql})", "real")
    if name in ("min", "max") and kind in SORTABLE - {"bool"}:
        return SqlScalar(f"{name.upper()}({argument.sql})", kind)
    if name == "dcount" and kind in SORTABLE:
        return SqlScalar(f"COUNT(DISTINCT {argument.sql})", "long")
    return None
