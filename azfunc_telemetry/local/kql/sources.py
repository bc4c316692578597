"""Queries that start from values instead of a table: ``print``, ``datatable`` and ``range``,
and the ``make-series`` operator, which builds one array per group over a time or number axis.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from . import syntax as ast
from .aggregates import AGGREGATE_FUNCTIONS
from .errors import KqlError
from .expressions import ExpressionEvaluator, infer_name, unique_name
from .operations import arithmetic, bin_value, compare
from .result import Table
from .values import CONVERTERS, group_key

__all__ = ["datatable", "make_series", "print_row", "range_rows"]

_MAX_RANGE_ROWS = 1_000_000


def _constant(expr: ast.Expr, exprs: ExpressionEvaluator) -> Any:
    exprs.check(expr, ())
    return exprs.evaluate(expr, {})


def print_row(op: ast.Print, exprs: ExpressionEvaluator) -> Table:
    """One row holding each expression, named ``print_0``, ``print_1``... unless named."""
    names: list[str] = []
    row: dict[str, Any] = {}
    for index, item in enumerate(op.items):
        name = item.name or infer_name(item.expr) or f"print_{index}"
        name = unique_name(name, names) if name in names else name
        names.append(name)
        row[name] = _constant(item.expr, exprs)
    return Table(names, [row])


def datatable(op: ast.DataTable, exprs: ExpressionEvaluator) -> Table:
    """The literal rows, converted to the declared column types."""
    names = [name for name, _kind in op.columns]
    for name, kind in op.columns:
        if kind not in CONVERTERS:
            raise KqlError(f"unknown type '{kind}' for datatable column '{name}'", op.pos)
    width = len(names)
    rows = []
    for start in range(0, len(op.values), width):
        row = {}
        for (name, kind), expr in zip(op.columns, op.values[start : start + width], strict=True):
            value = _constant(expr, exprs)
            row[name] = value if value is None or kind == "dynamic" else CONVERTERS[kind](value)
        rows.append(row)
    return Table(names, rows, dict(op.columns))


def range_rows(op: ast.Range, exprs: ExpressionEvaluator) -> Table:
    """``range x from a to b step s``: a, a+s, ... up to b inclusive."""
    start, end, step = (_constant(e, exprs) for e in (op.start, op.end, op.step))
    zero = timedelta(0) if isinstance(step, timedelta) else 0
    if compare(">", step, zero) is not True:
        raise KqlError("range step must be positive", op.pos)
    rows = []
    value = start
    while compare("<=", value, end) is True:
        rows.append({op.column: value})
        if len(rows) > _MAX_RANGE_ROWS:
            raise KqlError(f"range would produce more than {_MAX_RANGE_ROWS} rows", op.pos)
        value = arithmetic("+", value, step)
    return Table([op.column], rows)


def make_series(op: ast.MakeSeries, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Per ``by`` group, one array per aggregate over the axis bins, plus the axis itself.

    Output columns: the ``by`` keys, each aggregate's array, then the axis column, as Kusto
    orders them. Bins with no rows hold the ``default`` (0 unless given).
    """
    exprs.check(op.axis, table.columns)
    for key in op.by:
        exprs.check(key.expr, table.columns)
    for item in op.aggregates:
        if not (isinstance(item.expr, ast.Call) and item.expr.name in AGGREGATE_FUNCTIONS):
            raise KqlError("make-series expects aggregations such as count() or avg(x)", item.pos)
        exprs.check(item.expr, (), aggregate_columns=table.columns)
    step = _constant(op.step, exprs)
    axis_values = [exprs.evaluate(op.axis, row) for row in table.rows]
    present = [value for value in axis_values if value is not None]
    start = _constant(op.start, exprs) if op.start is not None else min(present, default=None)
    end = _constant(op.end, exprs) if op.end is not None else None
    if start is None:
        return Table([], [])
    start = bin_value(start, step)
    if end is None:
        last = max(present, default=start)
        end = arithmetic("+", bin_value(last, step), step)
    bins: list[Any] = []
    moment = start
    while compare("<", moment, end) is True:
        bins.append(moment)
        if len(bins) > _MAX_RANGE_ROWS:
            raise KqlError("make-series would produce too many bins", op.pos)
        moment = arithmetic("+", moment, step)
    by_names = [key.name or infer_name(key.expr) or f"Column{i + 1}" for i, key in enumerate(op.by)]
    aggregate_names = []
    for item in op.aggregates:
        assert isinstance(item.expr, ast.Call)
        spec = AGGREGATE_FUNCTIONS[item.expr.name]
        arg = infer_name(item.expr.args[0]) if item.expr.args and spec.row_args else None
        aggregate_names.append(item.name or spec.names(arg, [])[0])
    axis_name = infer_name(op.axis) or "axis"
    index_of = {group_key(value): position for position, value in enumerate(bins)}
    groups: dict[tuple[object, ...], tuple[list[Any], list[list[dict[str, Any]]]]] = {}
    for row, value in zip(table.rows, axis_values, strict=True):
        if value is None:
            continue
        position = index_of.get(group_key(bin_value(value, step)))
        if position is None:
            continue
        keys = [exprs.evaluate(key.expr, row) for key in op.by]
        entry = groups.setdefault(tuple(group_key(k) for k in keys), (keys, [[] for _ in bins]))
        entry[1][position].append(row)
    rows = []
    for keys, members_by_bin in groups.values():
        out: dict[str, Any] = dict(zip(by_names, keys, strict=True))
        for name, item, default in zip(aggregate_names, op.aggregates, op.defaults, strict=True):
            assert isinstance(item.expr, ast.Call)
            fill = 0 if default is None else _constant(default, exprs)
            spec = AGGREGATE_FUNCTIONS[item.expr.name]
            row_args = item.expr.args[: spec.row_args]
            consts = [_constant(arg, exprs) for arg in item.expr.args[spec.row_args :]]
            series = []
            for members in members_by_bin:
                if not members:
                    series.append(fill)
                    continue
                per_row = [tuple(exprs.evaluate(arg, m) for arg in row_args) for m in members]
                series.append(spec.compute(per_row, consts)[0])
            out[name] = series
        out[axis_name] = list(bins)
        rows.append(out)
    return Table([*by_names, *aggregate_names, axis_name], rows)
