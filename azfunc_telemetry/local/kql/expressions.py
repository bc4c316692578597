"""Checking and evaluating scalar expressions against one row.

Checking happens once per operator, before any row is read, so an unknown column or function is
reported at its position even when the table is empty. Evaluation then walks the tree per row.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from . import dynamic_functions, text_functions, time_functions  # noqa: F401 (they register)
from . import syntax as ast
from .aggregates import AGGREGATE_FUNCTIONS
from .errors import EvaluationError, KqlError
from .expression_parser import STRING_OPERATORS
from .functions import SCALAR_FUNCTIONS
from .operations import arithmetic, compare, logical, string_match, unary, values_equal
from .workspace_names import CLASSIC_COLUMNS

__all__ = [
    "WINDOW_FUNCTIONS",
    "ExpressionEvaluator",
    "aggregate_calls",
    "infer_name",
    "unique_name",
]

#: Functions of a row's neighbours, valid only where rows are serialized (extend, project).
WINDOW_FUNCTIONS = frozenset(("prev", "next", "row_number"))

_COMPARISONS = frozenset(("==", "!=", "<", "<=", ">", ">=", "=~", "!~"))
_STRING_OPS = STRING_OPERATORS | {"!" + op for op in STRING_OPERATORS} | {"matches regex"}
# Kusto names the result of these calls after their first argument: bin(timestamp, 1m) -> timestamp.
_NAME_PRESERVING = frozenset(
    (
        "bin", "floor", "tostring", "toint", "tolong", "todouble", "toreal", "tobool",
        "toboolean", "todatetime", "totimespan", "todynamic", "parse_json", "startofday",
        "startofweek", "startofmonth", "startofyear",
    )
)  # fmt: skip


def infer_name(expr: ast.Expr) -> str | None:
    """The column name Kusto derives for an unnamed expression, or None for ``ColumnN``.

    ``customDimensions.key`` and ``customDimensions["key"]`` both become ``customDimensions_key``.
    """
    if isinstance(expr, ast.ColumnRef):
        return expr.name
    if isinstance(expr, ast.Member):
        base = infer_name(expr.base)
        return f"{base}_{expr.key}" if base else None
    if isinstance(expr, ast.Index) and isinstance(expr.index, ast.Literal):
        base = infer_name(expr.base)
        key = expr.index.value
        return f"{base}_{key}" if base and isinstance(key, (str, int)) else None
    if isinstance(expr, ast.Call) and expr.name in _NAME_PRESERVING and expr.args:
        return infer_name(expr.args[0])
    return None


def unique_name(name: str | None, taken: Collection[str]) -> str:
    """``name`` if free, else ``name1``, ``name2``...; None becomes ``Column1``, ``Column2``..."""
    if name is not None and name not in taken:
        return name
    base = name or "Column"
    number = 1
    while f"{base}{number}" in taken:
        number += 1
    return f"{base}{number}"


def aggregate_calls(expr: ast.Expr) -> Iterator[ast.Call]:
    """The aggregate calls in ``expr`` (not descending into them)."""
    if isinstance(expr, ast.Call) and expr.name in AGGREGATE_FUNCTIONS:
        yield expr
        return
    for child in _children(expr):
        yield from aggregate_calls(child)


def _children(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(expr, ast.Member):
        return (expr.base,)
    if isinstance(expr, ast.Unary):
        return (expr.operand,)
    if isinstance(expr, ast.Index):
        return (expr.base, expr.index)
    if isinstance(expr, ast.Call):
        return expr.args
    if isinstance(expr, ast.Binary):
        return (expr.left, expr.right)
    if isinstance(expr, (ast.InList, ast.TermList)):
        return (expr.left, *expr.items)
    if isinstance(expr, ast.Between):
        return (expr.left, expr.low, expr.high)
    return ()


class ExpressionEvaluator:
    """Checks and evaluates expressions with the query's ``let`` values and fixed ``now``."""

    def __init__(self, now: datetime, lets: Mapping[str, Any]) -> None:
        self.now = now
        self.lets = lets
        # Set by the query runner: tabular `let` bindings and how to run a subquery.
        self.tables: Mapping[str, Any] = {}
        self.run_subquery: Callable[[ast.Query], Any] | None = None
        self._subquery_cache: dict[int, list[list[Any]]] = {}
        # The rows and current position while extend/project compute prev()/next()/row_number().
        self.window: tuple[Sequence[Mapping[str, Any]], int] | None = None

    def subquery_rows(self, node: ast.Subquery) -> list[list[Any]]:
        """The rows (as value lists) of a tabular argument, computed once per query."""
        cached = self._subquery_cache.get(id(node))
        if cached is None:
            if self.run_subquery is None:
                raise KqlError("a tabular argument cannot be used here", node.pos)
            table = self.run_subquery(node.query)
            cached = [[row.get(name) for name in table.columns] for row in table.rows]
            self._subquery_cache[id(node)] = cached
        return cached

    # --- checking -------------------------------------------------------------------------------

    def check(
        self,
        expr: ast.Expr,
        columns: Collection[str],
        *,
        aggregate_columns: Collection[str] | None = None,
    ) -> None:
        """Verify every name and call in ``expr``.

        Args:
            expr: The expression to check.
            columns: Columns visible to the expression.
            aggregate_columns: Columns visible inside aggregate calls; None means aggregates are
                not allowed here (anywhere outside ``summarize``).

        Raises:
            KqlError: At the first unknown column or function, or a wrong argument count.
        """
        if isinstance(expr, ast.ColumnRef):
            known = expr.name in columns or expr.name in self.lets or expr.name in self.tables
            if not known:
                raise KqlError(_unknown_column_message(expr.name, columns), expr.pos)
            return
        if isinstance(expr, (ast.Subquery, ast.Star)):
            return  # a subquery is checked when it runs; `*` only stands for columns
        if isinstance(expr, ast.Call):
            self._check_call(expr, columns, aggregate_columns)
            return
        for child in _children(expr):
            self.check(child, columns, aggregate_columns=aggregate_columns)

    def _check_call(
        self,
        call: ast.Call,
        columns: Collection[str],
        aggregate_columns: Collection[str] | None,
    ) -> None:
        aggregate = AGGREGATE_FUNCTIONS.get(call.name)
        if aggregate is not None:
            if aggregate_columns is None:
                raise KqlError(
                    f"aggregate function '{call.name}' can only be used in summarize", call.pos
                )
            _check_arity(call, aggregate.min_args, aggregate.max_args)
            for index, arg in enumerate(call.args):
                visible = aggregate_columns if index < aggregate.row_args else ()
                self.check(arg, visible)
            return
        scalar = SCALAR_FUNCTIONS.get(call.name)
        if scalar is None:
            kind = "aggregation function" if aggregate_columns is not None else "function"
            raise KqlError(f"unknown {kind} '{call.name}'", call.pos)
        _check_arity(call, scalar.min_args, scalar.max_args)
        for arg in call.args:
            self.check(arg, columns, aggregate_columns=aggregate_columns)

    # --- evaluation -----------------------------------------------------------------------------

    def evaluate(
        self,
        expr: ast.Expr,
        row: Mapping[str, Any],
        aggregates: Mapping[int, Any] | None = None,
    ) -> Any:
        """Compute ``expr`` for one row.

        Args:
            expr: A checked expression.
            row: Column values of the current row.
            aggregates: Precomputed aggregate results keyed by ``id()`` of their call node
                (inside ``summarize`` only).
        """
        if isinstance(expr, ast.Literal):
            return expr.value
        if isinstance(expr, ast.ColumnRef):
            return row[expr.name] if expr.name in row else self.lets.get(expr.name)
        if isinstance(expr, ast.Binary):
            return self._binary(expr, row, aggregates)
        if isinstance(expr, ast.Call):
            if aggregates is not None and id(expr) in aggregates:
                return aggregates[id(expr)]
            if expr.name in WINDOW_FUNCTIONS:
                return self._window_function(expr, row)
            if expr.name == "toscalar":
                subquery = expr.args[0]
                assert isinstance(subquery, ast.Subquery)
                rows = self.subquery_rows(subquery)
                return rows[0][0] if rows and rows[0] else None
            args = [self.evaluate(arg, row, aggregates) for arg in expr.args]
            try:
                return SCALAR_FUNCTIONS[expr.name].impl(args, self.now)
            except EvaluationError as error:
                raise KqlError(str(error), expr.pos) from None
        if isinstance(expr, ast.Member):
            base = self.evaluate(expr.base, row, aggregates)
            return base.get(expr.key) if isinstance(base, dict) else None
        if isinstance(expr, ast.Index):
            return _index(
                self.evaluate(expr.base, row, aggregates),
                self.evaluate(expr.index, row, aggregates),
            )
        if isinstance(expr, ast.Unary):
            operand = self.evaluate(expr.operand, row, aggregates)
            try:
                return unary(expr.op, operand)
            except EvaluationError as error:
                raise KqlError(str(error), expr.pos) from None
        if isinstance(expr, ast.InList):
            return self._in_list(expr, row, aggregates)
        if isinstance(expr, ast.TermList):
            return self._term_list(expr, row, aggregates)
        if isinstance(expr, ast.Between):
            return self._between(expr, row, aggregates)
        raise KqlError("a tabular argument or '*' cannot be used here", expr.pos)

    def _any_column(
        self, expr: ast.Binary, row: Mapping[str, Any], aggregates: Mapping[int, Any] | None
    ) -> bool:
        """``* has "x"``: whether some column of the row matches."""
        needle = self.evaluate(expr.right, row, aggregates)
        base = expr.op.lstrip("!")
        found = any(
            value is not None and string_match(base, value, needle) for value in row.values()
        )
        return not found if expr.op.startswith("!") else found

    def _list_values(
        self,
        items: Sequence[ast.Expr],
        row: Mapping[str, Any],
        aggregates: Mapping[int, Any] | None,
    ) -> list[Any]:
        """The values of ``in``/``has_any`` items: arrays and tables contribute every element."""
        values: list[Any] = []
        for item in items:
            if isinstance(item, ast.Subquery):
                values.extend(cells[0] for cells in self.subquery_rows(item) if cells)
                continue
            if (
                isinstance(item, ast.ColumnRef)
                and item.name not in row
                and item.name in self.tables
            ):
                table = self.tables[item.name]
                first = table.columns[0] if table.columns else None
                values.extend(stored.get(first) for stored in table.rows)
                continue
            value = self.evaluate(item, row, aggregates)
            values.extend(value if isinstance(value, list) else [value])
        return values

    def _term_list(
        self, expr: ast.TermList, row: Mapping[str, Any], aggregates: Mapping[int, Any] | None
    ) -> bool:
        left = self.evaluate(expr.left, row, aggregates)
        terms = self._list_values(expr.items, row, aggregates)
        found = [string_match("has", left, term) for term in terms]
        return any(found) if expr.op == "has_any" else bool(found) and all(found)

    def _window_function(self, call: ast.Call, row: Mapping[str, Any]) -> Any:
        if self.window is None:
            raise KqlError(
                f"function '{call.name}' needs serialized rows: use it in extend or project",
                call.pos,
            )
        rows, position = self.window
        if call.name == "row_number":
            start = self.evaluate(call.args[0], row) if call.args else 1
            return position + (start if isinstance(start, int) else 1)
        offset = self.evaluate(call.args[1], row) if len(call.args) > 1 else 1
        default = self.evaluate(call.args[2], row) if len(call.args) > 2 else None
        if not isinstance(offset, int):
            raise KqlError(f"{call.name}() expects a long offset", call.pos)
        target = position - offset if call.name == "prev" else position + offset
        if not 0 <= target < len(rows):
            return default
        saved = self.window
        self.window = None
        try:
            return self.evaluate(call.args[0], rows[target])
        finally:
            self.window = saved

    def _binary(
        self, expr: ast.Binary, row: Mapping[str, Any], aggregates: Mapping[int, Any] | None
    ) -> Any:
        op = expr.op
        if isinstance(expr.left, ast.Star) and op in _STRING_OPS:
            return self._any_column(expr, row, aggregates)
        left = self.evaluate(expr.left, row, aggregates)
        try:
            if op in ("and", "or"):
                # Short-circuit so the right side is only evaluated when it can matter.
                if (op == "and" and left is False) or (op == "or" and left is True):
                    return logical(op, left, None)
                return logical(op, left, self.evaluate(expr.right, row, aggregates))
            right = self.evaluate(expr.right, row, aggregates)
            if op in _COMPARISONS:
                return compare(op, left, right)
            if op in _STRING_OPS:
                return string_match(op, left, right)
            return arithmetic(op, left, right)
        except EvaluationError as error:
            raise KqlError(str(error), expr.pos) from None

    def _in_list(
        self, expr: ast.InList, row: Mapping[str, Any], aggregates: Mapping[int, Any] | None
    ) -> bool | None:
        left = self.evaluate(expr.left, row, aggregates)
        if left is None:  # null is in no list, so `!in` holds
            return expr.negated
        candidates = self._list_values(expr.items, row, aggregates)
        found = any(
            values_equal(left, candidate, case_insensitive=expr.case_insensitive) is True
            for candidate in candidates
        )
        return not found if expr.negated else found

    def _between(
        self, expr: ast.Between, row: Mapping[str, Any], aggregates: Mapping[int, Any] | None
    ) -> bool | None:
        value = self.evaluate(expr.left, row, aggregates)
        low = self.evaluate(expr.low, row, aggregates)
        high = self.evaluate(expr.high, row, aggregates)
        if isinstance(low, datetime) and isinstance(high, timedelta):
            high = low + high  # `between (start .. 1h)` means an hour from start
        within = logical("and", compare(">=", value, low), compare("<=", value, high))
        if within is None:
            return None
        return not within if expr.negated else within


def _index(base: Any, key: Any) -> Any:
    if isinstance(base, dict) and isinstance(key, str):
        return base.get(key)
    if isinstance(base, list) and isinstance(key, int) and not isinstance(key, bool):
        return base[key] if -len(base) <= key < len(base) else None
    return None


def _check_arity(call: ast.Call, min_args: int, max_args: int | None) -> None:
    count = len(call.args)
    if count >= min_args and (max_args is None or count <= max_args):
        return
    if max_args is None:
        expected = f"at least {min_args}"
    elif min_args == max_args:
        expected = str(min_args)
    else:
        expected = f"{min_args} to {max_args}"
    plural = "" if expected == "1" else "s"
    raise KqlError(
        f"function '{call.name}' expects {expected} argument{plural}, got {count}", call.pos
    )


def _unknown_column_message(name: str, columns: Collection[str]) -> str:
    message = f"unknown column '{name}'"
    classic = CLASSIC_COLUMNS.get(name)
    if classic is not None and classic in columns:
        return f"{message}: that is the workspace name; the classic column is '{classic}'"
    matches = [column for column in columns if column.lower() == name.lower()]
    if matches:
        message += f" (did you mean '{matches[0]}'? column names are case-sensitive)"
    return message
