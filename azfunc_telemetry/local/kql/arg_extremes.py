"""``arg_max``/``arg_min``: the other columns of the row where an expression peaks.

``summarize arg_max(timestamp, *) by name`` keeps, per name, the latest row whole;
``arg_max(duration, url, resultCode)`` keeps just those columns. The first output column is
named after the maximized expression, the rest after the columns they return; ``*`` stands for
every input column except the ``by`` keys (already in the output) and that first one. Rows whose
expression is null never win; ties go to the first row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import syntax as ast
from .operations import compare

if TYPE_CHECKING:
    from .expressions import ExpressionEvaluator

__all__ = ["ARG_EXTREMES", "arg_compute", "arg_outputs"]

ARG_EXTREMES = frozenset(("arg_max", "arg_min"))


def arg_outputs(
    call: ast.Call, input_columns: Sequence[str], by_names: Sequence[str]
) -> list[tuple[str | None, ast.Expr]]:
    """(default name, expression) of each output column of ``call``."""
    from .expressions import infer_name

    first = call.args[0]
    first_name = infer_name(first) or ("max_" if call.name == "arg_max" else "min_")
    outputs: list[tuple[str | None, ast.Expr]] = [(first_name, first)]
    for arg in call.args[1:]:
        if isinstance(arg, ast.Star):
            for column in input_columns:
                if column not in by_names and column != first_name:
                    outputs.append((column, ast.ColumnRef(column, arg.pos)))
        else:
            outputs.append((infer_name(arg), arg))
    return outputs


def arg_compute(
    call: ast.Call,
    outputs: Sequence[tuple[str | None, ast.Expr]],
    members: Sequence[Mapping[str, Any]],
    exprs: ExpressionEvaluator,
) -> list[Any]:
    """The output values for one group: those of the row where the first argument peaks."""
    op = ">" if call.name == "arg_max" else "<"
    best_row: Mapping[str, Any] | None = None
    best_value: Any = None
    for row in members:
        value = exprs.evaluate(call.args[0], row)
        if value is None:
            continue
        if best_row is None or compare(op, value, best_value) is True:
            best_row, best_value = row, value
    if best_row is None:
        return [None] * len(outputs)
    return [exprs.evaluate(expr, best_row) for _name, expr in outputs]
