"""The single-table operators: where, project, extend, summarize, order, top, take, count, distinct.

Each function takes the checked operator, the input :class:`~.result.Table` and the expression
evaluator, validates names against the input's columns first (so errors do not depend on the data)
and returns a new table.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Sequence
from typing import Any

from . import syntax as ast
from .aggregates import AGGREGATE_FUNCTIONS
from .arg_extremes import ARG_EXTREMES, arg_compute, arg_outputs
from .errors import EvaluationError, KqlError
from .expressions import ExpressionEvaluator, aggregate_calls, infer_name, unique_name
from .operations import kusto_type_name
from .result import Table
from .type_checks import check_aggregates, check_comparisons, check_predicate
from .values import format_value, group_key, is_number

__all__ = [
    "count",
    "distinct",
    "extend",
    "matching_columns",
    "project",
    "project_away",
    "project_rename",
    "sort",
    "summarize",
    "take",
    "top",
    "where",
]


def _require_columns(
    columns: Sequence[ast.ColumnRef], table: Table, exprs: ExpressionEvaluator
) -> None:
    for column in columns:
        if "*" not in column.name and column.name not in table.columns:
            exprs.check(column, table.columns)  # raises with the case-sensitivity hint
            raise KqlError(f"unknown column '{column.name}'", column.pos)


def matching_columns(
    patterns: Sequence[ast.ColumnRef], table: Table, exprs: ExpressionEvaluator
) -> list[str]:
    """The input columns named by ``patterns`` (``*`` matches any text), in pattern order."""
    _require_columns(patterns, table, exprs)
    matched: list[str] = []
    for pattern in patterns:
        names = (
            [name for name in table.columns if fnmatch.fnmatchcase(name, pattern.name)]
            if "*" in pattern.name
            else [pattern.name]
        )
        matched.extend(name for name in names if name not in matched)
    return matched


def _passed_types(names: Sequence[str], exprs: Sequence[ast.Expr], table: Table) -> dict[str, str]:
    """Types of output columns that copy an input column unchanged."""
    return {
        name: table.types[expr.name]
        for name, expr in zip(names, exprs, strict=True)
        if isinstance(expr, ast.ColumnRef) and expr.name in table.types
    }


def where(op: ast.Where, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Keep the rows whose predicate is true (null and false both drop the row)."""
    exprs.check(op.predicate, table.columns)
    check_predicate(op.predicate, table.types)
    kept = []
    for row in table.rows:
        verdict = exprs.evaluate(op.predicate, row)
        if verdict is not None and not isinstance(verdict, bool):
            got = kusto_type_name(verdict)
            raise KqlError(f"'where' expects a bool predicate, got {got}", op.predicate.pos)
        if verdict:
            kept.append(row)
    return Table(list(table.columns), kept, dict(table.types))


def _output_names(items: Sequence[ast.NamedExpr], taken: list[str]) -> list[str]:
    names: list[str] = []
    for item in items:
        if item.name is not None:
            if item.name in names:
                raise KqlError(f"column '{item.name}' is defined more than once", item.pos)
            names.append(item.name)
        else:
            names.append(unique_name(infer_name(item.expr), names + taken))
    return names


def project(op: ast.Project, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Output exactly the listed (possibly computed and renamed) columns."""
    for item in op.items:
        exprs.check(item.expr, table.columns)
        check_comparisons(item.expr, table.types)
    names = _output_names(op.items, [])
    rows = []
    for position, row in enumerate(table.rows):
        exprs.window = (table.rows, position)
        rows.append(
            {
                name: exprs.evaluate(item.expr, row)
                for name, item in zip(names, op.items, strict=True)
            }
        )
    exprs.window = None
    return Table(names, rows, _passed_types(names, [item.expr for item in op.items], table))


def project_away(op: ast.ProjectAway, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Drop the listed columns."""
    dropped = set(matching_columns(op.columns, table, exprs))
    columns = [name for name in table.columns if name not in dropped]
    rows = [{name: row[name] for name in columns} for row in table.rows]
    return Table(
        columns, rows, {name: table.types[name] for name in columns if name in table.types}
    )


def project_rename(op: ast.ProjectRename, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Rename columns in place."""
    _require_columns([old for _new, old in op.renames], table, exprs)
    mapping = {old.name: new for new, old in op.renames}
    columns = [mapping.get(name, name) for name in table.columns]
    if len(set(columns)) != len(columns):
        raise KqlError("project-rename would produce duplicate column names", op.pos)
    rows = [{mapping.get(name, name): value for name, value in row.items()} for row in table.rows]
    types = {mapping.get(name, name): kind for name, kind in table.types.items()}
    return Table(columns, rows, types)


def extend(op: ast.Extend, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Add computed columns; later items may use earlier ones, an existing name is replaced."""
    columns = list(table.columns)
    names: list[str] = []
    for item in op.items:
        exprs.check(item.expr, columns)
        check_comparisons(item.expr, table.types)
        name = item.name or unique_name(infer_name(item.expr), columns)
        names.append(name)
        if name not in columns:
            columns.append(name)
    rows = []
    for position, source_row in enumerate(table.rows):
        exprs.window = (table.rows, position)
        row = dict(source_row)
        for name, item in zip(names, op.items, strict=True):
            row[name] = exprs.evaluate(item.expr, row)
        rows.append(row)
    exprs.window = None
    types = {name: kind for name, kind in table.types.items() if name not in names}
    types.update(_passed_types(names, [item.expr for item in op.items], table))
    return Table(columns, rows, types)


def summarize(op: ast.Summarize, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Group rows by the ``by`` expressions and compute aggregates per group."""
    for key in op.by:
        exprs.check(key.expr, table.columns)
    by_names = _output_names(op.by, [])
    outputs: list[tuple[list[str], ast.NamedExpr]] = []
    arg_specs: dict[int, list[tuple[str | None, ast.Expr]]] = {}
    taken = list(by_names)
    for item in op.aggregates:
        if next(aggregate_calls(item.expr), None) is None:
            exprs.check(item.expr, table.columns, aggregate_columns=table.columns)  # `countt()`
            raise KqlError("summarize expects an aggregation such as count() or avg(x)", item.pos)
        exprs.check(item.expr, by_names, aggregate_columns=table.columns)
        check_aggregates(item.expr, table.types)
        call = item.expr
        if isinstance(call, ast.Call) and call.name in ARG_EXTREMES:
            arg_specs[id(call)] = arg_outputs(call, table.columns, by_names)
            names = _arg_names(item, arg_specs[id(call)], taken)
        else:
            names = _aggregate_names(item, exprs, taken)
        taken.extend(names)
        outputs.append((names, item))
    calls = [call for _names, item in outputs for call in aggregate_calls(item.expr)]
    constants = {
        id(call): [] if id(call) in arg_specs else _constants(call, exprs) for call in calls
    }

    groups: dict[tuple[object, ...], tuple[list[Any], list[dict[str, Any]]]] = {}
    for row in table.rows:
        values = [exprs.evaluate(key.expr, row) for key in op.by]
        groups.setdefault(tuple(group_key(v) for v in values), (values, []))[1].append(row)
    if not op.by and not groups:
        groups[()] = ([], [])  # without `by`, an empty input still yields one row

    rows = []
    for values, members in groups.values():
        results = {
            id(call): arg_compute(call, arg_specs[id(call)], members, exprs)
            if id(call) in arg_specs
            else _compute(call, members, constants[id(call)], exprs)
            for call in calls
        }
        keys = dict(zip(by_names, values, strict=True))
        single_values = {call_id: computed[0] for call_id, computed in results.items()}
        out = dict(keys)
        for names, item in outputs:
            direct = results.get(id(item.expr))
            if direct is not None:  # the item is one aggregate call, maybe with several outputs
                out.update(zip(names, direct, strict=True))
            else:  # an expression over aggregates, such as 100.0 * countif(...) / count()
                out[names[0]] = exprs.evaluate(item.expr, keys, single_values)
        rows.append(out)
    return Table(taken, rows, _passed_types(by_names, [key.expr for key in op.by], table))


def _arg_names(
    item: ast.NamedExpr, specs: list[tuple[str | None, ast.Expr]], taken: list[str]
) -> list[str]:
    names: list[str] = []
    for index, (default, _expr) in enumerate(specs):
        wanted = item.name if index == 0 and item.name is not None else default
        names.append(unique_name(wanted, taken + names))
    return names


def _aggregate_names(
    item: ast.NamedExpr, exprs: ExpressionEvaluator, taken: list[str]
) -> list[str]:
    calls = list(aggregate_calls(item.expr))
    expr = item.expr
    is_direct = isinstance(expr, ast.Call) and expr.name in AGGREGATE_FUNCTIONS
    if not is_direct:
        for call in calls:
            if len(_default_names(call, exprs)) > 1:
                raise KqlError(f"'{call.name}' produces several columns here", call.pos)
        name = item.name or unique_name(None, taken)
        if name in taken:
            raise KqlError(f"column '{name}' is defined more than once", item.pos)
        return [name]
    assert isinstance(expr, ast.Call)
    defaults = _default_names(expr, exprs)
    if item.name is not None:
        if len(defaults) > 1:
            raise KqlError(f"'{expr.name}' produces several columns and cannot be named", item.pos)
        if item.name in taken:
            raise KqlError(f"column '{item.name}' is defined more than once", item.pos)
        return [item.name]
    names: list[str] = []
    for default in defaults:
        names.append(unique_name(default, taken + names))
    return names


def _default_names(call: ast.Call, exprs: ExpressionEvaluator) -> list[str]:
    spec = AGGREGATE_FUNCTIONS[call.name]
    arg_name = infer_name(call.args[0]) if call.args and spec.row_args else None
    return spec.names(arg_name, _constants(call, exprs))


def _constants(call: ast.Call, exprs: ExpressionEvaluator) -> list[Any]:
    spec = AGGREGATE_FUNCTIONS[call.name]
    return [exprs.evaluate(arg, {}) for arg in call.args[spec.row_args :]]


def _compute(
    call: ast.Call, members: list[dict[str, Any]], constants: list[Any], exprs: ExpressionEvaluator
) -> list[Any]:
    spec = AGGREGATE_FUNCTIONS[call.name]
    row_args = call.args[: spec.row_args]
    per_row = [tuple(exprs.evaluate(arg, row) for arg in row_args) for row in members]
    try:
        return spec.compute(per_row, constants)
    except EvaluationError as error:
        raise KqlError(str(error), call.pos) from None


def _compare_values(left: Any, right: Any) -> int:
    """Order two non-null values: naturally within a kind, otherwise by kind name."""
    if is_number(left) and is_number(right):
        pass
    elif type(left) is not type(right) or isinstance(left, (dict, list)):
        left_kind, right_kind = kusto_type_name(left), kusto_type_name(right)
        if left_kind != right_kind:
            return -1 if left_kind < right_kind else 1
        left, right = format_value(left), format_value(right)
    return -1 if left < right else (1 if left > right else 0)


def _sorted_rows(
    rows: list[dict[str, Any]], keys: Sequence[ast.SortKey], exprs: ExpressionEvaluator
) -> list[dict[str, Any]]:
    decorated = [([exprs.evaluate(key.expr, row) for key in keys], row) for row in rows]

    def compare_rows(left: tuple[list[Any], Any], right: tuple[list[Any], Any]) -> int:
        for key, a, b in zip(keys, left[0], right[0], strict=True):
            if a is None or b is None:
                if a is None and b is None:
                    continue
                null_first = -1 if a is None else 1
                return null_first if key.nulls_first else -null_first
            order = _compare_values(a, b)
            if order:
                return -order if key.descending else order
        return 0

    decorated.sort(key=functools.cmp_to_key(compare_rows))
    return [row for _values, row in decorated]


def sort(op: ast.Sort, table: Table, exprs: ExpressionEvaluator) -> Table:
    """Order rows by the keys (each descending unless ``asc``)."""
    for key in op.keys:
        exprs.check(key.expr, table.columns)
    return Table(list(table.columns), _sorted_rows(table.rows, op.keys, exprs), dict(table.types))


def _row_count(expr: ast.Expr, exprs: ExpressionEvaluator) -> int:
    exprs.check(expr, ())
    value = exprs.evaluate(expr, {})
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise KqlError(
            f"expected a non-negative row count, found {format_value(value)!r}", expr.pos
        )
    return value


def top(op: ast.Top, table: Table, exprs: ExpressionEvaluator) -> Table:
    """The first N rows by the key."""
    limit = _row_count(op.count, exprs)
    exprs.check(op.key.expr, table.columns)
    rows = _sorted_rows(table.rows, [op.key], exprs)[:limit]
    return Table(list(table.columns), rows, dict(table.types))


def take(op: ast.Take, table: Table, exprs: ExpressionEvaluator) -> Table:
    """The first N rows in their current order."""
    rows = table.rows[: _row_count(op.count, exprs)]
    return Table(list(table.columns), rows, dict(table.types))


def count(_op: ast.Count, table: Table, _exprs: ExpressionEvaluator) -> Table:
    """A single row holding the number of input rows, in a column named ``Count``."""
    return Table(["Count"], [{"Count": len(table.rows)}], {"Count": "long"})


def distinct(op: ast.Distinct, table: Table, exprs: ExpressionEvaluator) -> Table:
    """The distinct combinations of the listed columns (all columns for ``*``)."""
    _require_columns(op.columns, table, exprs)
    columns = [column.name for column in op.columns] or list(table.columns)
    seen: dict[tuple[object, ...], dict[str, Any]] = {}
    for row in table.rows:
        picked = {name: row[name] for name in columns}
        seen.setdefault(tuple(group_key(value) for value in picked.values()), picked)
    types = {name: table.types[name] for name in columns if name in table.types}
    return Table(columns, list(seen.values()), types)
